/**
 * Credential masking (B2), in one place: one list of secret names, used for URL query
 * parameters, connection-string pairs and the secrets found in a store URL.
 * @module
 */

/**
 * Names whose values are secrets, wherever they appear: URL query parameters
 * (`?sig=…`, `?password=…`) and `Name=Value;` pairs of connection strings.
 */
export const SECRET_NAMES = [
  'accountkey',
  'sharedaccesssignature',
  'sig',
  'signature',
  'password',
  'pass',
  'pwd',
  'secret',
  'token',
  'access_token',
  'key',
  'auth',
  'secretaccesskey',
  'sessiontoken',
] as const;

const SECRET_NAME = new RegExp(`^(?:${SECRET_NAMES.join('|')})$`, 'i');
const SECRET_PAIR = new RegExp(`\\b(${SECRET_NAMES.join('|')})=([^;&\\s]+)`, 'gi');
const USERINFO = /(\b[a-z][a-z0-9+.-]*:\/\/[^/@\s:]*):([^@\s/]*)@/gi;

/** True when a parameter or connection-string name holds a secret (`sig`, `AccountKey`, …). */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/**
 * Returns `url` with its password and secret-looking parameters replaced by `***`.
 * Works on URLs (`redis://user:pw@host`), Azure connection strings
 * (`AccountKey=…;SharedAccessSignature=…`) and any text holding such fragments. Never throws.
 */
export function redactUrl(url: string): string {
  return String(url)
    .replace(SECRET_PAIR, '$1=***')
    .replace(USERINFO, '$1:***@')
    .replace(/([?&])([^=&#\s]+)=([^&#\s]*)/g, (m, sep: string, name: string) =>
      isSecretName(name) ? `${sep}${name}=***` : m,
    );
}

/**
 * Masks every occurrence of the given secrets in `text`, then applies {@link redactUrl}.
 * Use on messages from SDKs, which may echo what they were given.
 */
export function redactText(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = String(text);
  for (const secret of secrets) {
    if (secret && secret.length >= 3) out = out.split(secret).join('***');
  }
  return redactUrl(out);
}

/**
 * The secrets a store URL or connection string contains (its password, raw and
 * percent-decoded; the values of secret parameters and pairs), so messages that echo
 * them can be masked with {@link redactText}.
 */
export function secretsOf(url: string | undefined): string[] {
  if (!url) return [];
  const out: string[] = [];
  const userinfo = /^[a-z][a-z0-9+.-]*:\/\/[^/@\s:]*:([^@\s]*)@/i.exec(url);
  if (userinfo?.[1]) {
    out.push(userinfo[1]);
    try {
      out.push(decodeURIComponent(userinfo[1]));
    } catch {
      // not percent-encoded
    }
  }
  for (const match of url.matchAll(SECRET_PAIR)) {
    const value = match[2] as string;
    out.push(value);
    try {
      out.push(decodeURIComponent(value));
    } catch {
      // not percent-encoded
    }
  }
  return [...new Set(out)].filter((secret) => secret.length >= 3);
}
