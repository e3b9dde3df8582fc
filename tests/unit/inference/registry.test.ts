import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settingsSchema } from '../../../src/config/schema.ts';
import { UserError } from '../../../src/errors.ts';
import { readManifest } from '../../../src/inference/manifest.ts';
import { createReconstructor, loadModel, sha256Hex } from '../../../src/inference/registry.ts';
import { imageSum } from '../../../src/optics/image.ts';
import { TINY_RECEPTIVE_FIELD } from '../../fixtures/tiny-model.ts';
import { spotFrame } from './helpers.ts';

const fixture = new URL('../../fixtures/tiny-fp32.onnx', import.meta.url).pathname;
let dir: string;

function entry(over: Record<string, unknown> = {}) {
  return {
    id: 'tiny',
    file: 'tiny.onnx',
    sha256: sha256Hex(readFileSync(fixture)),
    task: 'damn',
    precision: 'fp32',
    input: { name: 'input', layout: 'NCHW', normalisation: 'min-sub-unit-sum-x-hw/2500' },
    output: { name: 'output', scale: 4, meaning: 'unit-sum emitter map' },
    opset: 13,
    macsPerPixel: 1234,
    receptiveField: TINY_RECEPTIVE_FIELD,
    trainedBy: 'tests/fixtures/tiny-model.ts (random weights)',
    ...over,
  };
}

function writeManifest(d: string, models: unknown[]): void {
  writeFileSync(join(d, 'manifest.json'), JSON.stringify({ models }));
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rayleigh-reg-'));
  copyFileSync(fixture, join(dir, 'tiny.onnx'));
  writeManifest(dir, [entry()]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('model registry', () => {
  it('reads the manifest with defaults; a missing or empty manifest means no models', async () => {
    const m = await readManifest(dir);
    expect(m.models[0].input.multiple).toBe(1);
    expect((await readManifest(join(dir, 'nowhere'))).models).toEqual([]);
    const empty = mkdtempSync(join(dir, 'empty-'));
    writeManifest(empty, []);
    expect((await readManifest(empty)).models).toEqual([]);
  });

  it('the shipped manifest parses', async () => {
    const shipped = new URL('../../../models-int8', import.meta.url).pathname;
    const m = await readManifest(shipped);
    for (const e of m.models) expect(e.sha256).toBe(sha256Hex(readFileSync(join(shipped, e.file))));
  });

  it('rejects malformed manifests with the offending field named', async () => {
    const bad = mkdtempSync(join(dir, 'bad-'));
    writeManifest(bad, [entry({ precision: 'int4' })]);
    await expect(readManifest(bad)).rejects.toThrow(/models\.0\.precision/);
    writeManifest(bad, [entry({ id: 'rl' })]);
    await expect(readManifest(bad)).rejects.toThrow(/reserved/);
    writeFileSync(join(bad, 'manifest.json'), '{ nope');
    await expect(readManifest(bad)).rejects.toThrow(UserError);
  });

  it('loads a model whose sha256 matches', async () => {
    const m = await loadModel('tiny', dir);
    expect(m.sha256).toBe(entry().sha256);
    expect(m.bytes.length).toBe(readFileSync(fixture).length);
  });

  it('refuses a model whose file does not match its sha256', async () => {
    const tampered = mkdtempSync(join(dir, 'tampered-'));
    const bytes = readFileSync(fixture);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(join(tampered, 'tiny.onnx'), bytes);
    writeManifest(tampered, [entry()]);
    await expect(loadModel('tiny', tampered)).rejects.toThrow(/sha256.*refusing/);
    await expect(loadModel('nope', tampered)).rejects.toThrow(/unknown model "nope" \(known: rl, tiny\)/);
  });

  it('creates ONNX and Richardson–Lucy reconstructors; cuda falls back to cpu', async () => {
    const settings = settingsSchema.parse({ inference: { modelsDir: dir, provider: 'cuda', threads: 1, tile: { window: 32 } } });
    const onnx = await createReconstructor('tiny', settings);
    try {
      expect(onnx.provider).toBe('cpu');
      expect(onnx.scale).toBe(4);
      expect(onnx.fingerprint).toBe(entry().sha256);
      const out = await onnx.reconstruct(spotFrame(40, 30, 3));
      expect([out.width, out.height]).toEqual([160, 120]);
      expect(imageSum(out)).toBeCloseTo(1, 4);
      await expect(onnx.reconstruct({ width: 2, height: 2, data: new Float32Array([1, Number.NaN, 0, 0]) })).rejects.toThrow(
        /non-finite pixel at x=/,
      );
      // still serving after a bad frame
      expect((await onnx.reconstruct(spotFrame(8, 8, 4))).width).toBe(32);
    } finally {
      await onnx.close();
    }
    const rl = await createReconstructor('rl', settings);
    expect(rl.id).toBe('rl');
    await rl.close();
  });
});
