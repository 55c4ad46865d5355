import { appendFileSync } from 'node:fs';

export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (resolved.url.startsWith('file:') && process.env.HEMFWD_LOADED_FILE)
    appendFileSync(process.env.HEMFWD_LOADED_FILE, `${resolved.url}\n`);
  return resolved;
}
