import { describe, expect, it } from 'vitest';
import { renderPatternOffThread } from '../../../src/hardware/pattern-render.ts';
import { parsePatternSpec, renderPattern } from '../../../src/hardware/patterns.ts';

describe('dmd_show pattern work', () => {
  it('is bounded by the schema: overlapping dots and huge random counts are refused', () => {
    // pitch 4 with radius 64 wrote (2·64+1)² mirrors per dot: ~7 s on the event loop at 1920×1080
    expect(() => parsePatternSpec({ kind: 'dots', pitch: 4, radius: 64 })).toThrow(/radius must be less than pitch/);
    expect(() => parsePatternSpec({ kind: 'dots', pitch: 8, radius: 4 })).toThrow(/radius/);
    expect(parsePatternSpec({ kind: 'dots', pitch: 8, radius: 3.5 }).kind).toBe('dots');
    expect(() => parsePatternSpec({ kind: 'random', count: 50_000 })).toThrow(/count/);
  });

  it('renders in a worker exactly what the in-thread generator makes, while the loop keeps turning', async () => {
    const spec = parsePatternSpec({ kind: 'random', count: 5000, minSpacing: 3, seed: 9 });
    let turns = 0;
    const ticker = setInterval(() => turns++, 1);
    const off = await renderPatternOffThread(spec, 912, 1140);
    clearInterval(ticker);
    const local = renderPattern(spec, 912, 1140);
    expect(off.points).toEqual(local.points);
    expect(Buffer.from(off.bits).equals(Buffer.from(local.bits))).toBe(true);
    expect(turns).toBeGreaterThan(0);
  });

  it('stops on abort and reports generator errors as the user errors they are', async () => {
    const ac = new AbortController();
    const pending = renderPatternOffThread(parsePatternSpec({ kind: 'random', count: 20_000, minSpacing: 1 }), 1920, 1080, ac.signal);
    ac.abort(new Error('cancelled by emergency stop'));
    await expect(pending).rejects.toThrow(/emergency stop/);
    await expect(renderPatternOffThread(parsePatternSpec({ kind: 'random', count: 2000, minSpacing: 50 }), 64, 64)).rejects.toThrow(
      /cannot place/,
    );
  });
});
