import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../../errors.ts';
import { decodeNpy } from '../../io/npy.ts';
import { DataType, encodeModel, makeValueInfo, type OnnxModel } from '../../onnx/model.ts';
import { type Image, makeImage } from '../../optics/image.ts';
import { NANOHOLE, nanoholeInput } from '../../optics/nanohole.ts';
import { normaliseInput, padToMultiple } from '../normalise.ts';
import { TensorStats } from './ranges.ts';

/**
 * The .npy frames of a calibration directory, sorted by name so runs are reproducible; a
 * comma-separated list of directories gives their frames one directory after the other.
 */
export async function listCalibrationFrames(dirs: string, option = '--calibration'): Promise<string[]> {
  const list = dirs
    .split(',')
    .map((d) => d.trim())
    .filter(Boolean);
  if (list.length === 0) throw new UserError(`${option}: no directory given`);
  const out: string[] = [];
  for (const d of list) out.push(...(await listDirectoryFrames(d, option)));
  return out;
}

async function listDirectoryFrames(dir: string, option: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    throw new UserError(`${option}: cannot read directory ${dir}`);
  }
  const npy = names.filter((n) => n.toLowerCase().endsWith('.npy')).sort();
  // `rayleigh simulate --out` puts truth maps beside the frames: then only frame_*.npy (damn) or
  // intensity_*.npy (unet) are frames
  const frames = npy.filter((n) => n.startsWith('frame_') || n.startsWith('intensity_'));
  const files = frames.length > 0 ? frames : npy;
  if (files.length === 0) throw new UserError(`${option}: no .npy frames in ${dir}`);
  return files.map((n) => join(dir, n));
}

/** Which input contract calibration frames are normalised with: damn (emitters) or unet (nanoholes). */
export type CalibrationTask = 'damn' | 'unet';

export async function loadFrame(path: string, multiple: number, task: CalibrationTask): Promise<Image> {
  const img = decodeNpy(await readFile(path), path);
  if (task === 'unet') {
    const n = NANOHOLE.inputSize;
    if (img.width !== n || img.height !== n)
      throw new UserError(`--calibration: ${path} is ${img.width}×${img.height}; the unet contract is ${n}×${n}`);
    return makeImage(n, n, nanoholeInput(img.data));
  }
  return padToMultiple(normaliseInput(img), multiple);
}

/** The model with every tensor in `names` exposed as an extra graph output. */
export function exposeTensors(model: OnnxModel, names: string[]): OnnxModel {
  const g = model.graph ?? {};
  const existing = new Set([...(g.output ?? []), ...(g.input ?? [])].map((v) => v.name));
  const extra = names.filter((n) => !existing.has(n)).map((n) => makeValueInfo(n, DataType.FLOAT, []));
  // a shape-less value info lets onnxruntime infer the shape; drop the rank-0 claim
  for (const v of extra) if (v.type?.tensor_type) delete v.type.tensor_type.shape;
  return { ...model, graph: { ...g, output: [...(g.output ?? []), ...extra] } };
}

export interface CalibrationOptions {
  inputName: string;
  /** frames are zero-padded to multiples of this (pooling networks) */
  multiple: number;
  threads: number;
  /** input contract of the model (default damn) */
  task?: CalibrationTask;
}

/**
 * Runs the FP32 model over the calibration frames twice: min/max first, then histograms on
 * ranges fixed by the first pass (so every frame lands in the same bins).
 */
export async function collectStats(
  model: OnnxModel,
  framePaths: string[],
  tensors: string[],
  o: CalibrationOptions,
): Promise<Map<string, TensorStats>> {
  const augmented = exposeTensors(model, tensors);
  // loaded here, not at module load: the CLI imports this module at start, and the daemon must not
  // load the native addon before runtime/native-probe.ts has checked it is safe on this board
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(encodeModel(augmented), {
    graphOptimizationLevel: 'basic',
    intraOpNumThreads: o.threads,
  });
  const stats = new Map(tensors.map((t) => [t, new TensorStats()]));
  const fetch = tensors.filter((t) => t !== o.inputName);
  try {
    for (const pass of [0, 1]) {
      for (const path of framePaths) {
        const img = await loadFrame(path, o.multiple, o.task ?? 'damn');
        const feed = { [o.inputName]: new ort.Tensor('float32', img.data, [1, 1, img.height, img.width]) };
        const result = await session.run(feed, fetch);
        for (const t of tensors) {
          const data = t === o.inputName ? img.data : (result[t]?.data as Float32Array | undefined);
          if (!data) throw new Error(`calibration: tensor ${t} was not produced`);
          const s = stats.get(t) as TensorStats;
          if (pass === 0) s.observeRange(data);
          else s.observeHistogram(data);
        }
        for (const v of Object.values(result)) v.dispose();
      }
    }
  } finally {
    await session.release();
  }
  return stats;
}
