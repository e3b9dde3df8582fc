import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.ts';
import { readManifest } from '../../../src/inference/manifest.ts';
import { NANOHOLE_INPUT_NORMALISATION } from '../../../src/optics/nanohole.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function manifestDir(entry: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'rayleigh-manifest-unet-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ models: [entry] }));
  return dir;
}

const unet = {
  id: 'unet',
  file: 'unet-int8.onnx',
  sha256: 'a'.repeat(64),
  task: 'unet',
  precision: 'int8',
  input: { name: 'intensity', layout: 'NCHW', normalisation: NANOHOLE_INPUT_NORMALISATION, multiple: 1 },
  output: { name: 'map', scale: 1, meaning: 'hole probability over 2.5λ' },
  opset: 13,
  macsPerPixel: 12376,
  receptiveField: 27,
  trainedRanges: { holes: [1, 10], pairDistance: [0.158, 0.677], framePhotons: [1e5, 1e8], readNoise: [0, 3] },
  trainedBy: 'training/train_unet.py',
};

describe('manifest: nanohole (unet) entries', () => {
  it('accept the nanohole input normalisation and nanohole trained ranges', async () => {
    const m = await readManifest(manifestDir(unet));
    expect(m.models[0].input.normalisation).toBe(NANOHOLE_INPUT_NORMALISATION);
    expect(m.models[0].trainedRanges?.pairDistance).toEqual([0.158, 0.677]);
  });

  it('reject an unknown normalisation and a malformed range', async () => {
    await expect(readManifest(manifestDir({ ...unet, input: { ...unet.input, normalisation: 'max' } }))).rejects.toThrow(
      /input\.normalisation/,
    );
    await expect(readManifest(manifestDir({ ...unet, trainedRanges: { holes: [1] } }))).rejects.toThrow(UserError);
  });
});
