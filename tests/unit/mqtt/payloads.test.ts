import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { commandParamSchemas, resultMetaSchema, scoreAgainstTruth, toResultMeta } from '../../../src/mqtt/payloads.ts';
import { encodePng16Scaled } from '../../../src/mqtt/png16.ts';
import { makeImage } from '../../../src/optics/image.ts';
import { makeResult } from './fixtures.ts';

describe('result meta', () => {
  it('carries the FrameResult fields and validates against its schema', () => {
    const meta = toResultMeta(makeResult(7, 'cam'), { max: 0.5, bytes: 123 });
    expect(resultMetaSchema.parse(meta)).toEqual(meta);
    expect(meta).toMatchObject({
      stream: 'cam',
      seq: 7,
      input: { width: 8, height: 8 },
      output: { width: 16, height: 16 },
      scale: 2,
      model: { id: 'damn-int8', fingerprint: 'abc123', provider: 'cpu' },
      image: { encoding: 'png16', max: 0.5, bytes: 123 },
    });
    expect(meta.score).toBeUndefined();
  });
  it('scores localisations against truth when the frame has it', () => {
    const meta = toResultMeta(makeResult(1, 'main', true));
    expect(meta.score).toMatchObject({ truth: 2, found: 1, matched: 1, precision: 1, recall: 0.5 });
    expect(meta.score!.rmsePx).toBeCloseTo(Math.hypot(0.1, 0.1), 6);
  });
  it('matches each truth emitter at most once', () => {
    const s = scoreAgainstTruth(
      [
        { x: 1, y: 1, photons: 1, peak: 1 },
        { x: 1.1, y: 1, photons: 1, peak: 1 },
      ],
      [{ x: 1, y: 1 }],
    );
    expect(s).toMatchObject({ matched: 1, precision: 0.5, recall: 1 });
  });
});

describe('png16', () => {
  it('round-trips through a PNG decoder as 16-bit grey scaled to the maximum', () => {
    const img = makeImage(3, 2, new Float32Array([0, 0.25, 0.5, -1, 0.125, 0.5]));
    const { png, max } = encodePng16Scaled(img);
    expect(max).toBe(0.5);
    const dec = PNG.sync.read(png, { skipRescale: true } as never);
    expect(dec.width).toBe(3);
    expect(dec.height).toBe(2);
    // pngjs expands grey to RGBA; with skipRescale a 16-bit image decodes to a Uint16Array
    const data = dec.data as unknown as Uint16Array;
    const grey = Array.from({ length: 6 }, (_, i) => data[i * 4]);
    expect(grey).toEqual([0, 32768, 65535, 0, 16384, 65535]);
  });
});

describe('command parameter schemas', () => {
  it('refuse unknown keys and wrong types', () => {
    expect(commandParamSchemas.capture.safeParse({ count: 'three' }).success).toBe(false);
    expect(commandParamSchemas.estop.safeParse({ now: true }).success).toBe(false);
    expect(commandParamSchemas.stage_move.safeParse({ axes: {} }).success).toBe(false);
    expect(commandParamSchemas.stage_move.safeParse({ axes: { x: Number.NaN } }).success).toBe(false);
    expect(commandParamSchemas.dmd_show.safeParse({ pattern: { kind: 'spiral' } }).success).toBe(false);
  });
  it('fill defaults', () => {
    expect(commandParamSchemas.capture.parse({})).toEqual({ count: 1 });
    expect(commandParamSchemas.restart.parse({})).toEqual({ delayMs: 0 });
  });
});
