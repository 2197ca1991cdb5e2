/**
 * `etcd://` and `etcds://` URLs: one or more member addresses, optional user and password
 * (etcd's own auth), optional key prefix as the path. Forms: docs/stores/etcd.md.
 * @module
 */
import { ConfigError } from '../../errors.js';
import { decodeUrlPart, redactUrl, urlParams } from '../../store-kit/index.js';

/** Connection settings parsed from an `etcd://` URL by {@link parseEtcdUrl}. */
export interface ParsedEtcdUrl {
  /** Member addresses as `host:port` (IPv6 in brackets), in URL order. */
  hosts: string[];
  /** True for `etcds://` (TLS, verified against Node's CA list). */
  tls: boolean;
  /** etcd user, decoded. */
  username: string | undefined;
  /** Password, decoded. */
  password: string | undefined;
  /** The password as written in the URL (percent-encoded), for redaction. */
  rawPassword: string | undefined;
  /** Key prefix from the path (`/myapp/` gives `myapp/`), decoded; undefined without a path. */
  prefix: string | undefined;
}

const EXAMPLE = 'etcd://[user:password@]host[:port][,host[:port]…][/prefix/]';
const DEFAULT_PORT = 2379;
const SHAPE = /^(etcds?):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?$/i;
const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/i;

/** One `host[:port]` of the URL's member list, with the default port filled in. */
function memberOf(text: string, shown: string): string {
  const match = HOST.exec(text);
  const port = match?.[2] === undefined ? DEFAULT_PORT : Number(match[2]);
  if (!match || port < 1 || port > 65535) {
    throw new ConfigError(`store: member "${text}" in "${shown}" is not host[:port]; expected ${EXAMPLE}`);
  }
  return `${(match[1] as string).toLowerCase()}:${port}`;
}

/**
 * Parses an `etcd://` or `etcds://` URL. Several members are separated by commas, which
 * the WHATWG parser refuses in a host, so the authority is split here.
 * @throws ConfigError naming the URL (password masked) and what is wrong with it.
 */
export function parseEtcdUrl(text: string): ParsedEtcdUrl {
  const shown = redactUrl(text);
  const match = SHAPE.exec(text);
  if (!match) throw new ConfigError(`store: "${shown}" is not an etcd:// or etcds:// URL; expected ${EXAMPLE}`);
  const [, scheme, authority, path, query] = match as unknown as [string, string, string, string, string?];
  const at = authority.lastIndexOf('@');
  const userinfo = at < 0 ? '' : authority.slice(0, at);
  const members = (at < 0 ? authority : authority.slice(at + 1)).split(',');
  if (members.some((member) => member === '')) {
    throw new ConfigError(`store: "${shown}" names no host (or an empty one); expected ${EXAMPLE}`);
  }
  urlParams(new URL(`http://placeholder${query ?? ''}`), shown, []);
  const colon = userinfo.indexOf(':');
  const rawUser = colon < 0 ? userinfo : userinfo.slice(0, colon);
  const rawPassword = colon < 0 ? undefined : userinfo.slice(colon + 1);
  if (rawPassword !== undefined && rawUser === '') {
    throw new ConfigError(`store: "${shown}" has a password but no user; etcd auth needs both`);
  }
  const prefix = path.replace(/^\//, '');
  return {
    hosts: members.map((member) => memberOf(member, shown)),
    tls: scheme.toLowerCase() === 'etcds',
    username: rawUser ? decodeUrlPart(rawUser, shown) : undefined,
    password: rawPassword === undefined ? undefined : decodeUrlPart(rawPassword, shown),
    rawPassword: rawPassword || undefined,
    prefix: prefix === '' ? undefined : decodeUrlPart(prefix, shown, 'path'),
  };
}
