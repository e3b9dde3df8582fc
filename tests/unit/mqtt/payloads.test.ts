import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { BOOT_ID } from '../../../src/boot.ts';
import { listToColumns } from '../../../src/inference/peaks.ts';
import { readPngText, withPngText } from '../../../src/io/png.ts';
import { commandParamSchemas, resultMetaSchema, scoreAgainstTruth, toResultMeta } from '../../../src/mqtt/payloads.ts';
import { makeImage } from '../../../src/optics/image.ts';
import { encodeWithin } from '../../../src/pipeline/render.ts';
import { makeResult } from './fixtures.ts';

describe('result meta', () => {
  it('carries the FrameResult fields and validates against its schema', () => {
    const r = makeResult(7, 'cam');
    const meta = toResultMeta(r);
    expect(resultMetaSchema.parse(meta)).toEqual(meta);
    expect(meta).toMatchObject({
      stream: 'cam',
      seq: 7,
      input: { width: 8, height: 8 },
      output: { width: 16, height: 16 },
      scale: 2,
      model: { id: 'damn-int8', fingerprint: 'abc123', provider: 'cpu' },
      image: { encoding: 'png16', max: 1, bytes: r.image?.png.byteLength, width: 16, height: 16, bin: 1 },
      localizations: { count: 1, x: [1.5], y: [2.5], photons: [100], peak: [1] },
      boot: BOOT_ID,
    });
    expect(meta.score).toBeUndefined();
  });
  it('scores localisations against truth when the frame has it', () => {
    const meta = toResultMeta(makeResult(1, 'main', true));
    expect(meta.score).toMatchObject({ truth: 2, found: 1, matched: 1, precision: 1, recall: 0.5 });
    expect(meta.score!.rmsePx).toBeCloseTo(Math.hypot(0.1, 0.1), 6);
  });
  it('rounds the localisation columns and refuses columns of unequal length', () => {
    const r = makeResult(2);
    r.localizations = listToColumns([{ x: 1.23456, y: 7.00049, photons: 123.456, peak: 0.000123456 }]);
    const meta = toResultMeta(r);
    expect(meta.localizations).toEqual({ count: 1, x: [1.235], y: [7], photons: [123.5], peak: [0.0001235] });
    const bad = { ...meta, localizations: { ...meta.localizations, y: [] } };
    expect(resultMetaSchema.safeParse(bad).success).toBe(false);
  });
  it('matches each truth emitter at most once', () => {
    const s = scoreAgainstTruth(
      listToColumns([
        { x: 1, y: 1, photons: 1, peak: 1 },
        { x: 1.1, y: 1, photons: 1, peak: 1 },
      ]),
      [{ x: 1, y: 1 }],
    );
    expect(s).toMatchObject({ matched: 1, precision: 0.5, recall: 1 });
  });
});

describe('png16', () => {
  it('round-trips through a PNG decoder as 16-bit grey scaled to the maximum', () => {
    const img = makeImage(3, 2, new Float32Array([0, 0.25, 0.5, -1, 0.125, 0.5]));
    const { png, max } = encodeWithin(img, 1 << 20);
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

describe('PNG text tag', () => {
  it('names the frame inside the PNG and still decodes', () => {
    const img = makeImage(5, 3, new Float32Array(15).fill(0.5));
    const { png } = encodeWithin(img, 1 << 20);
    const tagged = withPngText(png, 'rayleigh', JSON.stringify({ seq: 42, stream: 'main' }));
    expect(JSON.parse(readPngText(tagged).rayleigh)).toEqual({ seq: 42, stream: 'main' });
    const dec = PNG.sync.read(tagged);
    expect([dec.width, dec.height]).toEqual([5, 3]);
    expect(readPngText(png).rayleigh).toBeUndefined();
  });
  it('halves an image until its PNG fits the byte budget', () => {
    const noisy = makeImage(
      256,
      256,
      Float32Array.from({ length: 65536 }, (_, i) => ((i * 2654435761) % 1000) / 1000),
    );
    const e = encodeWithin(noisy, 20_000);
    expect(e.png.length).toBeLessThanOrEqual(20_000);
    expect(e.extraBin).toBeGreaterThan(1);
    expect(e.width).toBe(256 / e.extraBin);
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
