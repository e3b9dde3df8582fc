import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.ts';
import { quantizeModelFile } from '../../../src/inference/quantize/index.ts';
import { encodeNpy } from '../../../src/io/npy.ts';
import { decodeModel } from '../../../src/onnx/model.ts';
import { makeImage } from '../../../src/optics/image.ts';
import { NANOHOLE, simulateNanohole } from '../../../src/optics/nanohole.ts';
import { Rng } from '../../../src/optics/random.ts';

const fixtures = new URL('../../fixtures/', import.meta.url).pathname;
let dir: string;
const n = NANOHOLE.inputSize;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rayleigh-quant-unet-'));
  const cal = join(dir, 'cal');
  mkdirSync(cal);
  const rng = new Rng(2);
  for (let i = 0; i < 4; i++) {
    const s = simulateNanohole({ holes: 3 }, rng);
    writeFileSync(join(cal, `intensity_000${i}.npy`), encodeNpy(makeImage(n, n, s.intensity)));
    // `simulate --out` writes truth maps beside the frames; they are not calibration frames
    writeFileSync(join(cal, `truth_000${i}.npy`), encodeNpy(makeImage(n, n, Float32Array.from(s.truth))));
  }
  const bad = join(dir, 'bad');
  mkdirSync(bad);
  writeFileSync(join(bad, 'intensity_0000.npy'), encodeNpy(makeImage(64, 64, new Float32Array(64 * 64).fill(1))));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('quantize --task unet', () => {
  it('calibrates on the intensity_*.npy frames under the nanohole input contract and records the task', async () => {
    const out = join(dir, 'tiny-unet-int8.onnx');
    const r = await quantizeModelFile({
      model: join(fixtures, 'tiny-fp32.onnx'),
      calibration: join(dir, 'cal'),
      out,
      threads: 1,
      task: 'unet',
    });
    expect(r.frames).toBe(4);
    const m = decodeModel(readFileSync(out));
    const meta = JSON.parse(m.metadata_props?.find((p) => p.key === 'rayleigh.quantization')?.value ?? '{}');
    expect(meta).toMatchObject({ task: 'unet', calibrationFrames: 4 });
  });

  it('refuses frames that are not 128×128', async () => {
    await expect(
      quantizeModelFile({
        model: join(fixtures, 'tiny-fp32.onnx'),
        calibration: join(dir, 'bad'),
        out: join(dir, 'x.onnx'),
        threads: 1,
        task: 'unet',
      }),
    ).rejects.toThrow(UserError);
  });
});
