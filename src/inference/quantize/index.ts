import { readFile, writeFile } from 'node:fs/promises';
import { UserError } from '../../errors.ts';
import { decodeModel, encodeModel, type OnnxModel } from '../../onnx/model.ts';
import { type CalibrationTask, collectStats, listCalibrationFrames } from './calibrate.ts';
import { activationRange, type QdqReport, quantizeQdq, tensorsToCalibrate } from './qdq.ts';
import { type RangeSearchResult, searchRanges } from './range-search.ts';
import type { RangeMethod } from './ranges.ts';
import { dropSoftmaxDegree, insertLayoutAnchors, type MergedConv, mergeSiblingConvs, siblingConvGroups } from './rewrite.ts';
import { isQuantTarget, QUANT_TARGETS, type QuantTarget, TARGETS, targetFromCpuinfo } from './targets.ts';

export { type OptimizedGraphSummary, summariseOptimizedGraph } from './inspect.ts';
export { RANGE_METHODS, type RangeMethod } from './ranges.ts';
export { QUANT_TARGETS, type QuantTarget } from './targets.ts';

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
  /** the CPU the model is for ('auto': this machine's /proc/cpuinfo; default 'generic'); decides 7- or 8-bit weights */
  target?: QuantTarget | 'auto';
  /** stack sibling Convs (same input and geometry) into one Conv before quantizing; default true */
  mergeSiblings?: boolean;
  /** identity 1×1 Convs where a float layer's output feeds a pooling op (see rewrite.ts); default true */
  layoutAnchors?: boolean;
  /** drop the redundant channel of Convs that feed a channel softmax (see rewrite.ts); default true */
  softmaxRewrite?: boolean;
  /** input contract the calibration frames are normalised with: damn (default) or unet (nanoholeInput) */
  task?: CalibrationTask;
  /** passes of the output-aware range search (see range-search.ts); 0 (default) = the range method's ranges */
  rangeSearch?: number;
  /** directories the range search scores on (default: the calibration directories) */
  searchFrames?: string;
  /** /proc/cpuinfo text for target 'auto' (tests); read from the file when omitted */
  cpuinfo?: string;
}

export interface QuantizeResult extends QdqReport {
  frames: number;
  /** Conv nodes kept in float because --exclude named them */
  excludedConvs: number;
  method: RangeMethod;
  out: string;
  target: QuantTarget;
  weightBits: 7 | 8;
  mergedConvs: MergedConv[];
  rangeSearch?: RangeSearchResult;
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
  let model = await readOnnx(o.model);
  const inputs = (model.graph?.input ?? []).filter((v) => !(model.graph?.initializer ?? []).some((t) => t.name === v.name));
  if (inputs.length !== 1) throw new UserError(`--model: expected one graph input, found ${inputs.length}`);
  const nodeNames = new Set((model.graph?.node ?? []).map((n) => n.name));
  const unknown = (o.exclude ?? []).filter((n) => !nodeNames.has(n));
  if (unknown.length > 0) throw new UserError(`--exclude: no node named ${unknown.map((n) => `"${n}"`).join(', ')} in ${o.model}`);
  const target = await resolveTarget(o.target ?? 'generic', o.cpuinfo);
  const spec = TARGETS[target];
  if (o.searchFrames && !((o.rangeSearch ?? 0) > 0))
    throw new UserError('--search-frames: only the range search reads them (add --range-search N)');
  const frames = await listCalibrationFrames(o.calibration);
  // listed before the statistics pass, so a wrong directory fails at once
  const searchFrames = o.searchFrames ? await listCalibrationFrames(o.searchFrames, '--search-frames') : frames;
  const softmax = o.softmaxRewrite === false ? { model, convs: [] } : dropSoftmaxDegree(model);
  model = softmax.model;
  const anchored = insertLayoutAnchors(model, o.layoutAnchors === false ? [] : anchorTensors(model, new Set(o.exclude ?? [])));
  model = anchored.model;
  const sharedParams = new Map(anchored.anchors.map((a) => [a.to, a.from]));
  const tensors = tensorsToCalibrate(model, o.exclude);
  if (tensors.length === 0) throw new UserError('--model: no quantizable ops (Conv, Add, Concat, ...) found');
  const calibration = { inputName: inputs[0].name ?? 'input', multiple: o.multiple ?? 8, threads: o.threads ?? 2, task: o.task };
  const stats = await collectStats(model, frames, tensors, calibration);
  const ranges = { method, percentile, headroom };
  // Sibling Convs are stacked after calibration: the rewrite leaves every other tensor as it was, and
  // the stacked output's range is the hull of its parts' ranges, each part scaled into it by its gain.
  let graph = model;
  let merged: MergedConv[] = [];
  let exclude = o.exclude ?? [];
  const fixedRanges = new Map<string, { lo: number; hi: number }>();
  const floatNodes = new Set(exclude);
  const groups = o.mergeSiblings === false ? [] : siblingConvGroups(model, floatNodes);
  if (groups.length > 0) {
    const rangeOf = (t: string) => {
      const s = stats.get(t);
      if (!s) throw new UserError(`quantize: no calibration statistics for tensor "${t}"`);
      return activationRange(model, t, s, ranges, false);
    };
    const hulls = new Map<string, { lo: number; hi: number }>();
    const gains = new Map<string, number>();
    for (const group of groups) {
      // stacked float Convs need no gains: nothing rounds their output
      if (floatNodes.has(group[0].name ?? '')) continue;
      const parts = group.map((n) => rangeOf(n.output?.[0] ?? ''));
      const hull = { lo: Math.min(0, ...parts.map((r) => r.lo)), hi: Math.max(0, ...parts.map((r) => r.hi)) };
      for (const [i, n] of group.entries()) gains.set(n.name ?? '', stretchGain(parts[i], hull));
      hulls.set(group[0].name ?? '', hull);
    }
    const r = mergeSiblingConvs(model, groups, (n) => gains.get(n.name ?? '') ?? 1);
    graph = r.model;
    merged = r.merged;
    for (const [i, m] of merged.entries()) {
      const hull = hulls.get(groups[i][0].name ?? '');
      if (hull) fixedRanges.set(m.output, hull);
      // a stack of float Convs stays in float under its new name
      else exclude = [...exclude.filter((n) => !m.merged.includes(n)), m.name];
    }
  }
  const qdqOptions = { ...ranges, exclude, weightQmax: spec.weightQmax, fixedRanges, sharedParams };
  let search: RangeSearchResult | undefined;
  let q: ReturnType<typeof quantizeQdq>;
  try {
    if ((o.rangeSearch ?? 0) > 0)
      search = await searchRanges(graph, stats, qdqOptions, searchFrames, {
        ...calibration,
        passes: o.rangeSearch ?? 0,
      });
    q = quantizeQdq(graph, stats, { ...qdqOptions, rangeScale: search?.scales });
  } catch (err) {
    throw new UserError(`quantize: ${(err as Error).message}`);
  }
  const provenance = {
    method,
    percentile: method === 'percentile' ? percentile : undefined,
    headroom,
    floatNodes: exclude.length > 0 ? exclude : undefined,
    calibrationFrames: frames.length,
    task: o.task ?? 'damn',
    target,
    weightBits: spec.weightBits,
    mergedConvs: merged.length > 0 ? merged.map((m) => ({ name: m.name, merged: m.merged, gains: m.gains })) : undefined,
    layoutAnchors: anchored.anchors.length > 0 ? anchored.anchors.map((a) => a.name) : undefined,
    softmaxLogitsRelative: softmax.convs.length > 0 ? softmax.convs : undefined,
    activations: 'uint8 asymmetric, per tensor',
    weights: `int8 symmetric per output channel, ${spec.weightBits}-bit [-${spec.weightQmax}, ${spec.weightQmax}]`,
    bias: 'int32, scale = x_scale * w_scale',
    rangeSearch: search
      ? {
          passes: o.rangeSearch,
          objective:
            search.objective === 'excess-mae'
              ? "worst search directory's INT8 fine MAE against the simulator's truth / FP32's − 1"
              : "worst search directory's mean squared Hellinger distance to FP32's map",
          searchFrames: o.searchFrames ?? o.calibration,
          worst: [search.before, search.after],
          directories: search.directories,
          scales: Object.fromEntries(search.scales),
        }
      : undefined,
  };
  q.model.metadata_props = [
    ...(q.model.metadata_props ?? []).filter((p) => p.key !== 'rayleigh.quantization'),
    { key: 'rayleigh.quantization', value: JSON.stringify(provenance) },
  ];
  await writeFile(o.out, encodeModel(q.model));
  const excluded = new Set(exclude);
  const excludedConvs = (graph.graph?.node ?? []).filter((n) => n.op_type === 'Conv' && n.name && excluded.has(n.name)).length;
  return {
    ...q.report,
    frames: frames.length,
    excludedConvs,
    method,
    out: o.out,
    target,
    weightBits: spec.weightBits,
    mergedConvs: merged,
    rangeSearch: search,
  };
}

/**
 * Tensors that need a layout anchor: read by a pooling op that will be quantized, and made by a Conv
 * kept in float (directly or through ReLU).
 */
function anchorTensors(model: OnnxModel, floatNodes: Set<string>): string[] {
  const nodes = model.graph?.node ?? [];
  const producer = (t: string) => nodes.find((n) => n.output?.includes(t));
  const out = new Set<string>();
  for (const n of nodes) {
    if ((n.op_type !== 'MaxPool' && n.op_type !== 'AveragePool') || (n.name && floatNodes.has(n.name))) continue;
    const t = n.input?.[0] ?? '';
    let p = producer(t);
    while (p && p.op_type === 'Relu') p = producer(p.input?.[0] ?? '');
    if (p?.op_type === 'Conv' && p.name && floatNodes.has(p.name)) out.add(t);
  }
  return [...out];
}

/**
 * The largest gain g ≥ 1 with g·part inside hull on both sides, so a narrow sibling uses as many
 * uint8 levels of the stacked output as the hull allows.
 */
export function stretchGain(part: { lo: number; hi: number }, hull: { lo: number; hi: number }): number {
  let g = Number.POSITIVE_INFINITY;
  if (part.hi > 0) g = Math.min(g, hull.hi / part.hi);
  if (part.lo < 0) g = Math.min(g, hull.lo / part.lo);
  return Number.isFinite(g) && g > 1 ? g : 1;
}

async function resolveTarget(t: string, cpuinfo?: string): Promise<QuantTarget> {
  if (t !== 'auto') {
    if (!isQuantTarget(t)) throw new UserError(`--target: expected auto or one of ${QUANT_TARGETS.join(', ')}, got "${t}"`);
    return t;
  }
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = await readFile('/proc/cpuinfo', 'utf8');
    } catch {
      throw new UserError('--target auto: cannot read /proc/cpuinfo; name the target (--target x86-avx2, …)');
    }
  }
  try {
    return targetFromCpuinfo(text);
  } catch (err) {
    throw new UserError(`--target auto: ${(err as Error).message}; name the target (--target x86-avx2, …)`);
  }
}
