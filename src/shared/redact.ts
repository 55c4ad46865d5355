/** What replaces the user name and password of a URL in anything printed. */
export const REDACTED_USERINFO = '***';

// The authority's userinfo ends at its last '@' (as WHATWG URL parsing does); greedy up to / ? # or space.
const USERINFO = /([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*(?:@[^\s/?#@]*)*@/gi;

/** `https://user:pw@host:9200` → `https://***@host:9200`; anything else unchanged (not parsed or normalised). */
export function redactUrl(url: string): string {
  return redactUrls(url);
}

/** Redacts the userinfo of every URL in a free text (an error message, a JSON value). */
export function redactUrls(text: string): string {
  return text.replace(USERINFO, `$1${REDACTED_USERINFO}@`);
}
