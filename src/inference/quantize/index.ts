import { readFile, writeFile } from 'node:fs/promises';
import { UserError } from '../../errors.ts';
import { decodeModel, encodeModel, type OnnxModel } from '../../onnx/model.ts';
import { collectStats, listCalibrationFrames } from './calibrate.ts';
import { type QdqReport, quantizeQdq, tensorsToCalibrate } from './qdq.ts';
import type { RangeMethod } from './ranges.ts';

export { type OptimizedGraphSummary, summariseOptimizedGraph } from './inspect.ts';
export { RANGE_METHODS, type RangeMethod } from './ranges.ts';

export interface QuantizeOptions {
  model: string;
  calibration: string;
  out: string;
  method?: RangeMethod;
  percentile?: number;
  headroom?: number;
  /** calibration frames are zero-padded to multiples of this; 8 suits a 3-level U-Net */
  multiple?: number;
  /** node names kept in float */
  exclude?: string[];
  threads?: number;
}

export interface QuantizeResult extends QdqReport {
  frames: number;
  /** Conv nodes kept in float because --exclude named them */
  excludedConvs: number;
  method: RangeMethod;
  out: string;
}

async function readOnnx(path: string): Promise<OnnxModel> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch {
    throw new UserError(`--model: cannot read ${path}`);
  }
  try {
    return decodeModel(bytes);
  } catch (err) {
    throw new UserError(`--model: ${path}: ${(err as Error).message}`);
  }
}

/** FP32 ONNX file + directory of raw .npy frames → QDQ INT8 ONNX file. */
export async function quantizeModelFile(o: QuantizeOptions): Promise<QuantizeResult> {
  const method = o.method ?? 'percentile';
  const percentile = o.percentile ?? 99.99;
  const headroom = o.headroom ?? 1.1;
  if (!(percentile > 0 && percentile <= 100)) throw new UserError(`--percentile: expected 0 < p ≤ 100, got ${percentile}`);
  if (!(headroom >= 1 && headroom <= 10)) throw new UserError(`--headroom: expected 1 ≤ h ≤ 10, got ${headroom}`);
  const model = await readOnnx(o.model);
  const inputs = (model.graph?.input ?? []).filter((v) => !(model.graph?.initializer ?? []).some((t) => t.name === v.name));
  if (inputs.length !== 1) throw new UserError(`--model: expected one graph input, found ${inputs.length}`);
  const nodeNames = new Set((model.graph?.node ?? []).map((n) => n.name));
  const unknown = (o.exclude ?? []).filter((n) => !nodeNames.has(n));
  if (unknown.length > 0) throw new UserError(`--exclude: no node named ${unknown.map((n) => `"${n}"`).join(', ')} in ${o.model}`);
  const frames = await listCalibrationFrames(o.calibration);
  const tensors = tensorsToCalibrate(model, o.exclude);
  if (tensors.length === 0) throw new UserError('--model: no quantizable ops (Conv, Add, Concat, ...) found');
  const stats = await collectStats(model, frames, tensors, {
    inputName: inputs[0].name ?? 'input',
    multiple: o.multiple ?? 8,
    threads: o.threads ?? 2,
  });
  let q: ReturnType<typeof quantizeQdq>;
  try {
    q = quantizeQdq(model, stats, { method, percentile, headroom, exclude: o.exclude });
  } catch (err) {
    throw new UserError(`quantize: ${(err as Error).message}`);
  }
  const provenance = {
    method,
    percentile: method === 'percentile' ? percentile : undefined,
    headroom,
    floatNodes: o.exclude && o.exclude.length > 0 ? o.exclude : undefined,
    calibrationFrames: frames.length,
    activations: 'uint8 asymmetric, per tensor',
    weights: 'int8 symmetric per output channel, 7-bit [-63, 63]',
    bias: 'int32, scale = x_scale * w_scale',
  };
  q.model.metadata_props = [
    ...(q.model.metadata_props ?? []).filter((p) => p.key !== 'rayleigh.quantization'),
    { key: 'rayleigh.quantization', value: JSON.stringify(provenance) },
  ];
  await writeFile(o.out, encodeModel(q.model));
  const excluded = new Set(o.exclude ?? []);
  const excludedConvs = (model.graph?.node ?? []).filter((n) => n.op_type === 'Conv' && n.name && excluded.has(n.name)).length;
  return { ...q.report, frames: frames.length, excludedConvs, method, out: o.out };
}
