import { describe, expect, it } from 'vitest';
import { InOrder } from '../../../src/collector/in-order.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('InOrder', () => {
  it('runs tasks in the order added, whatever each takes, and lets the caller run ahead up to the limit', async () => {
    const queue = new InOrder(2);
    const done: number[] = [];
    const added: number[] = [];
    for (const [i, ms] of [30, 5, 20, 1, 10].entries()) {
      await queue.add(async () => {
        await tick(ms);
        done.push(i);
      });
      added.push(i);
      // Never more than `limit` tasks waiting once add() returns.
      expect(added.length - done.length).toBeLessThanOrEqual(2);
    }
    await queue.settle();
    expect(done).toEqual([0, 1, 2, 3, 4]);
  });

  it('a failure stops the tasks after it; settle throws it, idle does not', async () => {
    const queue = new InOrder(10);
    const ran: string[] = [];
    await queue.add(async () => void ran.push('a'));
    await queue.add(async () => {
      throw new Error('b failed');
    });
    await queue.add(async () => void ran.push('c'));
    await queue.idle();
    expect(queue.failed).toBe(true);
    expect(ran).toEqual(['a']);
    await expect(queue.settle()).rejects.toThrow('b failed');
  });
});
