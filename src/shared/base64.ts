// Strict base64url (RFC 4648 §5, no padding) as written by the device: a value that a lenient decoder
// would accept but that is not the canonical spelling (wrong length, stray bits in the last character)
// is rejected, so two spellings of one value cannot both pass.
const VALUE = new Int8Array(128).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('').forEach((c, i) => {
  VALUE[c.charCodeAt(0)] = i;
});

/** Checks without allocating; the parser calls this for every field of every record. */
export function isBase64Url(text: string): boolean {
  const n = text.length;
  const rem = n % 4;
  if (rem === 1) return false;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c > 127 || VALUE[c]! < 0) return false;
  }
  if (rem === 0) return true;
  const last = VALUE[text.charCodeAt(n - 1)]!;
  return (last & (rem === 2 ? 0x0f : 0x03)) === 0;
}

export function decodeBase64Url(text: string): Buffer | null {
  return isBase64Url(text) ? Buffer.from(text, 'base64url') : null;
}

/** Standard base64 with padding, as the device's JSON API uses for keys. */
export function decodeBase64(text: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return null;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : null;
}
