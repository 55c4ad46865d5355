// Strict base64url (RFC 4648 §5, no padding) as written by the device: a value that a lenient decoder
// would accept but that does not re-encode to the same text is rejected, so two spellings of one value
// cannot both pass.
const BASE64URL = /^[A-Za-z0-9_-]*$/;

export function decodeBase64Url(text: string): Buffer | null {
  if (text.length % 4 === 1 || !BASE64URL.test(text)) return null;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : null;
}

/** Standard base64 with padding, as the device's JSON API uses for keys. */
export function decodeBase64(text: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return null;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : null;
}
