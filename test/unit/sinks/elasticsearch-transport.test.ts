import { errors } from '@elastic/elasticsearch';
import { describe, expect, it } from 'vitest';
import { requestFailure } from '../../../src/sinks/elasticsearch/transport.js';
import { classifyRequest } from '../../../src/sinks/search/classify.js';

function responseError(statusCode: number, body: unknown): errors.ResponseError {
  return new errors.ResponseError({ body, statusCode, headers: {}, warnings: null, meta: {} as never });
}

describe('the client errors as bulk request failures', () => {
  it.each([
    ['connection refused', new errors.ConnectionError('connect ECONNREFUSED'), 'retry'],
    ['timeout', new errors.TimeoutError('Request timed out'), 'retry'],
    ['no living node', new errors.NoLivingConnectionsError('none', {} as never), 'retry'],
    ['503', responseError(503, { error: { type: 'unavailable_shards_exception' } }), 'retry'],
    ['408', responseError(408, {}), 'retry'],
    ['403 block', responseError(403, { error: { type: 'cluster_block_exception', reason: 'r' } }), 'blocked'],
    [
      '429 nested block',
      responseError(429, { error: { type: 'x', root_cause: [{ type: 'cluster_block_exception' }] } }),
      'blocked',
    ],
    ['401', responseError(401, { error: { type: 'security_exception' } }), 'auth'],
    ['403', responseError(403, { error: { type: 'security_exception' } }), 'auth'],
    ['400', responseError(400, { error: { type: 'illegal_argument_exception' } }), 'reject'],
    ['other', new errors.DeserializationError('bad json', '{'), 'reject'],
  ])('%s', (_name, err, verdict) => {
    const failure = requestFailure(err);
    expect(classifyRequest(failure.failure)).toBe(verdict);
    expect(failure.cause).toBe(err);
    expect(failure.message).not.toBe('');
  });

  it('says HTTP <status> for an answer and keeps the block reason', () => {
    const reason = 'index [x] blocked by: [FORBIDDEN/8/index write (api)];';
    const failure = requestFailure(responseError(403, { error: { type: 'cluster_block_exception', reason } }));
    expect(failure.message).toMatch(/^HTTP 403: /);
    expect(failure.failure).toEqual({ status: 403, type: 'cluster_block_exception', reason });
  });
});
