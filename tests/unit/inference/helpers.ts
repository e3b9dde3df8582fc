import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadedModel } from '../../../src/inference/manifest.ts';
import { sha256Hex } from '../../../src/inference/registry.ts';
import { encodeNpy } from '../../../src/io/npy.ts';
import { type Image, makeImage } from '../../../src/optics/image.ts';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** A camera-like frame: offset background with noise plus Gaussian spots of varied brightness. */
export function spotFrame(width: number, height: number, seed: number, spots = 15): Image {
  const r = lcg(seed);
  const d = new Float32Array(width * height);
  for (let i = 0; i < d.length; i++) d[i] = 100 + 5 * r();
  for (let e = 0; e < spots; e++) {
    const x = r() * width;
    const y = r() * height;
    const a = 20 + 2000 * r() ** 2;
    const s2 = 1 + 4 * r();
    for (let yy = Math.max(0, Math.floor(y - 8)); yy < Math.min(height, y + 8); yy++) {
      for (let xx = Math.max(0, Math.floor(x - 8)); xx < Math.min(width, x + 8); xx++) {
        d[yy * width + xx] += a * Math.exp(-((xx - x) ** 2 + (yy - y) ** 2) / s2);
      }
    }
  }
  return makeImage(width, height, d);
}

export function writeCalibrationSet(dir: string, count: number, size = 48): void {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < count; i++)
    writeFileSync(join(dir, `frame-${String(i).padStart(3, '0')}.npy`), encodeNpy(spotFrame(size, size, 1000 + i)));
}

export function relativeL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += a[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/** A damn-task model as the registry would hand it over, for engines built straight from bytes. */
export function loadedDamnModel(bytes: Uint8Array, id: string, receptiveField: number, multiple: number): LoadedModel {
  return {
    path: `${id}.onnx`,
    bytes,
    sha256: sha256Hex(bytes),
    entry: {
      id,
      file: `${id}.onnx`,
      sha256: sha256Hex(bytes),
      task: 'damn',
      precision: 'fp32',
      input: { name: 'input', layout: 'NCHW', normalisation: 'min-sub-unit-sum-x-hw/2500', multiple },
      output: { name: 'output', scale: 4, meaning: 'test' },
      opset: 13,
      macsPerPixel: 0,
      receptiveField,
      trainedBy: 'tests',
    },
  };
}
