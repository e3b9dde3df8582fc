import { describe, expect, it } from 'vitest';
import { quantileSorted, RateWindow, SampleWindow } from '../../../src/health/window.ts';

describe('RateWindow', () => {
  it('averages events per second over the window and forgets old seconds', () => {
    let t = 1_000_000;
    const w = new RateWindow(10, () => t);
    for (let s = 0; s < 10; s++) {
      w.add(5);
      t += 1000;
    }
    // ten seconds of 5 events each
    expect(w.perSecond()).toBeCloseTo(4.5, 5); // the current second has nothing yet
    t += 20_000;
    expect(w.perSecond()).toBe(0);
  });

  it('uses elapsed time while younger than the window', () => {
    let t = 0;
    const w = new RateWindow(10, () => t);
    w.add(3);
    t = 2000;
    w.add(3);
    expect(w.perSecond()).toBeCloseTo(3, 5);
  });
});

describe('SampleWindow', () => {
  it('computes nearest-rank percentiles of the most recent samples only', () => {
    const w = new SampleWindow(100);
    for (let i = 1; i <= 100; i++) w.add(i);
    expect(w.quantiles()).toEqual({ p50: 50, p95: 95, p99: 99, count: 100 });
    for (let i = 0; i < 100; i++) w.add(1000);
    expect(w.quantiles().p50).toBe(1000);
  });

  it('reports null on no data and ignores non-finite samples', () => {
    const w = new SampleWindow(4);
    expect(w.quantiles().p50).toBeNull();
    w.add(Number.NaN);
    expect(w.quantiles().count).toBe(0);
  });

  it('quantileSorted picks observed values', () => {
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2);
    expect(quantileSorted([7], 0.99)).toBe(7);
    expect(() => quantileSorted([], 0.5)).toThrow();
  });
});
