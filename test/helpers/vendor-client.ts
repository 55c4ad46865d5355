import { createHmac, createPrivateKey, createPublicKey, diffieHellman, pbkdf2Sync } from 'node:crypto';
import { request } from 'node:https';

/**
 * An independent HEM client written the way the vendor's PHP test suite logs in: header keys in the
 * order alg, typ, ecdh; PHP-style `\/` escapes in the JSON; iat = now - 5; a new connection per request.
 * It shares no code with src/, so a test that passes with it shows the simulator speaks the documented
 * API, not just our client's dialect.
 */
export class VendorStyleClient {
  token: string | null = null;

  constructor(
    readonly url: string,
    readonly passphrase: string,
  ) {}

  call(
    method: string,
    path: string,
    body?: string,
    extra: Record<string, string> = {},
  ): Promise<{ status: number; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { connection: 'close' };
      if (this.token) headers.authorization = `Bearer ${this.token}`;
      if (body !== undefined)
        Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      Object.assign(headers, extra);
      if (extra['transfer-encoding']) delete headers['content-length'];
      const req = request(`${this.url}${path}`, { method, headers, rejectUnauthorized: false, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Logs in; returns the status and the request body sent (to replay it). */
  async login(scope = 'logger:get'): Promise<{ status: number; sent: string }> {
    const ch = JSON.parse((await this.call('GET', '/api/auth/token')).body.toString()) as {
      exp: number;
      spk: string;
      jti: string;
      eid: string;
    };
    const seed = pbkdf2Sync(this.passphrase, ch.eid, 600000, 32, 'sha256');
    const priv = createPrivateKey({
      key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), seed]),
      format: 'der',
      type: 'pkcs8',
    });
    const iss = (createPublicKey(priv).export({ format: 'der', type: 'spki' }) as Buffer)
      .subarray(12)
      .toString('base64');
    const spk = createPublicKey({
      key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), Buffer.from(ch.spk, 'base64')]),
      format: 'der',
      type: 'spki',
    });
    const secret = diffieHellman({ privateKey: priv, publicKey: spk });
    const php = (o: object) => JSON.stringify(o).replaceAll('/', '\\/');
    const now = ch.exp - 60;
    const hdr = Buffer.from(php({ alg: 'HS256', typ: 'JWT', ecdh: 'x25519' })).toString('base64url');
    const claims = Buffer.from(php({ jti: ch.jti, aud: ch.spk, exp: now + 3600, iat: now - 5, iss, scope })).toString(
      'base64url',
    );
    const sig = createHmac('sha256', secret).update(`${hdr}.${claims}`).digest('base64url');
    const sent = php({ auth: `${hdr}.${claims}.${sig}` });
    const reply = await this.call('POST', '/api/auth/token', sent);
    if (reply.status === 200) this.token = (JSON.parse(reply.body.toString()) as { token: string }).token;
    return { status: reply.status, sent };
  }
}
