import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeModel } from '../../src/onnx/model.ts';
import { NANOHOLE_INPUT_NORMALISATION } from '../../src/optics/nanohole.ts';
import { buildTinyNanoholeModel, TINY_NANOHOLE } from '../fixtures/tiny-model.ts';

export interface TinyUnet {
  id: string;
  precision: 'int8' | 'fp32';
  gain: number;
  bias: number;
}

/** A models directory holding tiny nanohole-contract models (ONNX built in TypeScript) and their manifest. */
export function tinyUnetModelsDir(models: TinyUnet[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'rayleigh-unet-models-'));
  const entries = models.map((m) => {
    const bytes = encodeModel(buildTinyNanoholeModel(m.gain, m.bias));
    const file = `${m.id}.onnx`;
    writeFileSync(join(dir, file), bytes);
    return {
      id: m.id,
      file,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      task: 'unet',
      precision: m.precision,
      input: { name: TINY_NANOHOLE.input, layout: 'NCHW', normalisation: NANOHOLE_INPUT_NORMALISATION, multiple: 1 },
      output: { name: TINY_NANOHOLE.output, scale: 1, meaning: 'test stand-in: sigmoid of a 3×3 box mean of the input' },
      opset: 13,
      macsPerPixel: 9,
      receptiveField: 1,
      trainedBy: 'not trained (tests/fixtures/tiny-model.ts buildTinyNanoholeModel)',
    };
  });
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ models: entries }, null, 2));
  return dir;
}
