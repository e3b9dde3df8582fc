import { describe, expect, it } from 'vitest';
import { DropOldestQueue } from '../../../src/pipeline/queue.ts';

describe('DropOldestQueue', () => {
  it('drops the oldest item when full and counts the drops', async () => {
    const dropped: number[] = [];
    const q = new DropOldestQueue<number>(3, (x) => dropped.push(x));
    for (let i = 1; i <= 5; i++) q.push(i);
    expect(q.depth).toBe(3);
    expect(q.dropped).toBe(2);
    expect(dropped).toEqual([1, 2]);
    expect(await q.take()).toBe(3);
    expect(await q.take()).toBe(4);
    expect(await q.take()).toBe(5);
  });

  it('hands an item straight to a waiting consumer without queueing it', async () => {
    const q = new DropOldestQueue<string>(1);
    const pending = q.take();
    q.push('a');
    q.push('b');
    q.push('c');
    expect(await pending).toBe('a');
    expect(q.dropped).toBe(1);
    expect(await q.take()).toBe('c');
  });

  it('drains queued items after close, then yields undefined', async () => {
    const q = new DropOldestQueue<number>(4);
    q.push(1);
    q.push(2);
    q.close();
    q.push(3);
    expect(await q.take()).toBe(1);
    expect(await q.take()).toBe(2);
    expect(await q.take()).toBeUndefined();
  });

  it('releases a blocked consumer on close', async () => {
    const q = new DropOldestQueue<number>(2);
    const pending = q.take();
    q.close();
    expect(await pending).toBeUndefined();
  });

  it('clear() counts what it discards as dropped', () => {
    const q = new DropOldestQueue<number>(4);
    q.push(1);
    q.push(2);
    expect(q.clear()).toBe(2);
    expect(q.dropped).toBe(2);
    expect(q.depth).toBe(0);
  });

  it('rejects a non-positive capacity', () => {
    expect(() => new DropOldestQueue<number>(0)).toThrow(/capacity/);
  });
});
