/**
 * Removes credentials from URLs, connection strings and messages (B2).
 * @module
 */

const SECRET_QUERY = /^(sig|signature|password|pass|pwd|secret|token|access_token|accountkey|sharedaccesssignature|key|auth)$/i;

/**
 * Returns `url` with its password and secret-looking query parameters replaced by `***`.
 * Works on URLs (`redis://user:pw@host`), Azure connection strings
 * (`AccountKey=…;SharedAccessSignature=…`) and anything else (returned with such
 * fragments masked). Never throws.
 */
export function redactUrl(url: string): string {
  let out = String(url);
  // Connection-string style: Key=Value; pairs.
  out = out.replace(/\b(AccountKey|SharedAccessSignature|Password|Pwd|sig)=([^;&\s]+)/gi, '$1=***');
  // userinfo in scheme://user:password@host
  out = out.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/@\s:]*):([^@\s]*)@/i, (_m, scheme: string, user: string) => `${scheme}${user}:***@`);
  // query parameters
  out = out.replace(/([?&])([^=&#\s]+)=([^&#\s]*)/g, (m, sep: string, name: string) => (SECRET_QUERY.test(name) ? `${sep}${name}=***` : m));
  return out;
}

/**
 * Masks every occurrence of the given secrets in `text`, and applies {@link redactUrl}
 * to it. Use on error messages from SDKs, which may echo what they were given.
 */
export function redactText(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = String(text);
  for (const s of secrets) {
    if (s && s.length >= 3) out = out.split(s).join('***');
  }
  return redactUrl(out).replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^/@\s:]*):([^@\s/]*)@/gi, '$1:***@');
}
