/**
 * FP32 → QDQ INT8 graph rewrite, laid out so onnxruntime's QDQ transformers fuse every Conv into
 * QLinearConv: QuantizeLinear/DequantizeLinear on each Conv's activation input and output, int8
 * symmetric per-channel weights (7 or 8 bits, chosen by the target CPU: see targets.ts), int32 bias
 * with scale x_scale·w_scale, uint8 asymmetric activations.
 */
import {
  attr,
  DataType,
  defaultOpset,
  makeTensor,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
  tensorValues,
} from '../../onnx/model.ts';
import { clipRange, type QParams, type RangeOptions, type TensorStats, uint8Params } from './ranges.ts';

/** Which inputs of each quantized op are activations that get Q/DQ. */
const ACTIVATION_INPUTS: Record<string, (n: OnnxNode) => number[]> = {
  Conv: () => [0],
  Add: () => [0, 1],
  Concat: (n) => (n.input ?? []).map((_, i) => i),
  DepthToSpace: () => [0],
  SpaceToDepth: () => [0],
  MaxPool: () => [0],
  AveragePool: () => [0],
  Resize: () => [0],
  Relu: () => [0],
};

/** Data-movement ops: onnxruntime drops their Q/DQ (runs them on uint8) only when input and output share parameters. */
const SAME_PARAMS = new Set(['DepthToSpace', 'SpaceToDepth', 'MaxPool', 'Resize', 'Relu']);

/** 7-bit symmetric: [-63, 63] ⊂ [-64, 63]; the default, safe on every CPU */
export const WEIGHT_QMAX = 63;

/**
 * Softplus is flat zero below about -16 (softplus(-16) ≈ 1e-7), so a tensor read only by Softplus
 * needs no range below that. Without the floor, a mass logit whose background pixels sit near -470
 * got a 1.9-wide uint8 step and the emitters' masses, which live in [0, 15], were rounded to a few
 * levels.
 */
export const SOFTPLUS_FLOOR = -16;

export interface QdqOptions extends RangeOptions {
  /** node names to leave in float */
  exclude?: string[];
  /** largest weight magnitude: 63 (7-bit, the default) or 127 (8-bit, CPUs with VNNI / dot product) */
  weightQmax?: number;
  /** clipping ranges decided by the caller, used instead of the tensor's statistics */
  fixedRanges?: Map<string, { lo: number; hi: number }>;
  /** tensor → tensor whose quantization parameters it takes (identity layers stay exact) */
  sharedParams?: Map<string, string>;
  /** tensor → factor its clipping range is multiplied by (see range-search.ts) */
  rangeScale?: Map<string, number>;
}

/**
 * The clipping range of an activation from its statistics: the range method's, except that a tensor
 * read only by Softplus needs nothing below SOFTPLUS_FLOOR.
 */
export function activationRange(
  model: OnnxModel,
  t: string,
  s: TensorStats,
  o: RangeOptions,
  nonNegative: boolean,
): { lo: number; hi: number } {
  const g = model.graph ?? {};
  const { lo, hi } = clipRange(s, o, nonNegative);
  const readers = (g.node ?? []).filter((n) => n.input?.includes(t));
  const isOutput = (g.output ?? []).some((v) => v.name === t);
  const onlySoftplus = readers.length > 0 && readers.every((c) => c.op_type === 'Softplus') && !isOutput;
  return { lo: onlySoftplus ? Math.max(lo, SOFTPLUS_FLOOR) : lo, hi };
}

export interface QdqReport {
  quantizedNodes: number;
  convs: number;
  removedRelus: number;
  tensors: number;
  /** activations whose range comes from their own statistics (the rest share another tensor's) */
  ownRanges: string[];
}

function isQuantizable(n: OnnxNode, exclude: Set<string>, initializers: Map<string, OnnxTensor>): boolean {
  if (n.domain && n.domain !== 'ai.onnx') return false;
  if (!ACTIVATION_INPUTS[n.op_type ?? '']) return false;
  if (n.name && exclude.has(n.name)) return false;
  if (n.op_type === 'Conv') {
    const w = initializers.get(n.input?.[1] ?? '');
    if (!w || w.data_type !== DataType.FLOAT) return false;
    const b = n.input?.[2];
    if (b && initializers.get(b)?.data_type !== DataType.FLOAT) return false;
  }
  if (n.op_type === 'Resize') {
    const mode = n.attribute?.find((a) => a.name === 'mode')?.s;
    if (mode && new TextDecoder().decode(mode) !== 'nearest') return false;
  }
  return true;
}

/**
 * Nodes left in float without being asked: a data-movement op that writes a graph output. In uint8 it
 * saves nothing (the caller wants float anyway) and its Q/DQ would round the model's output, e.g.
 * the dimmest sub-pixel shares of an emitter map to zero.
 */
function implicitlyExcluded(model: OnnxModel, exclude: Iterable<string>): Set<string> {
  const g = model.graph ?? {};
  const outputs = new Set((g.output ?? []).map((v) => v.name ?? ''));
  const names = new Set(exclude);
  for (const n of g.node ?? []) {
    if (n.name && SAME_PARAMS.has(n.op_type ?? '') && (n.output ?? []).some((t) => outputs.has(t))) names.add(n.name);
  }
  return names;
}

/** Tensors whose calibration statistics the rewrite will need: every activation around a quantizable op. */
export function tensorsToCalibrate(model: OnnxModel, exclude: string[] = []): string[] {
  const g = model.graph ?? {};
  const inits = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
  const ex = implicitlyExcluded(model, exclude);
  const out = new Set<string>();
  for (const n of g.node ?? []) {
    if (!isQuantizable(n, ex, inits)) continue;
    for (const i of ACTIVATION_INPUTS[n.op_type ?? ''](n)) {
      const name = n.input?.[i];
      if (name && !inits.has(name)) out.add(name);
    }
    if (n.output?.[0]) out.add(n.output[0]);
  }
  return [...out];
}

export function quantizeQdq(model: OnnxModel, stats: Map<string, TensorStats>, o: QdqOptions): { model: OnnxModel; report: QdqReport } {
  const opset = defaultOpset(model) ?? 0;
  if (opset < 13) throw new Error(`opset ${opset}: per-channel QDQ needs ai.onnx opset 13 or newer; re-export the model with opset 13`);
  const qmax = o.weightQmax ?? WEIGHT_QMAX;
  if (qmax !== 63 && qmax !== 127) throw new Error(`weightQmax ${qmax}: expected 63 (7-bit) or 127 (8-bit)`);
  const src = model.graph ?? {};
  const initializers = new Map((src.initializer ?? []).map((t) => [t.name ?? '', t]));
  const exclude = implicitlyExcluded(model, o.exclude ?? []);
  const graphOutputs = new Set((src.output ?? []).map((v) => v.name ?? ''));
  const graphInputs = new Set((src.input ?? []).map((v) => v.name ?? '').filter((n) => !initializers.has(n)));
  let nodes: OnnxNode[] = (src.node ?? []).map((n) => ({ ...n, input: [...(n.input ?? [])], output: [...(n.output ?? [])] }));

  const consumersOf = (t: string) => nodes.filter((n) => n.input?.includes(t));
  const producerOf = (t: string) => nodes.find((n) => n.output?.includes(t));

  // An excluded node runs in float. Its output is still quantized when a compute op (Conv, Add,
  // Concat, ...) reads it, so the next layer fuses; read only by data-movement ops it stays float,
  // and so do their outputs, or onnxruntime would fuse the excluded node through its Q/DQ neighbours.
  const floatTensors = new Set<string>();
  const readByComputeOp = (t: string) =>
    nodes.some((c) => c.input?.includes(t) && isQuantizable(c, exclude, initializers) && !SAME_PARAMS.has(c.op_type ?? ''));
  for (const n of nodes) {
    const excluded = !!n.name && exclude.has(n.name);
    const fedByFloat = SAME_PARAMS.has(n.op_type ?? '') && floatTensors.has(n.input?.[0] ?? '');
    if (!excluded && !fedByFloat) continue;
    for (const t of n.output ?? []) if (!readByComputeOp(t)) floatTensors.add(t);
  }

  // A ReLU right after a quantized op is redundant once that op's output is quantized with zero
  // point 0: the uint8 range itself clamps at zero. Removing it lets QLinearConv absorb it.
  const nonNegative = new Set<string>();
  let removedRelus = 0;
  for (let changed = true; changed; ) {
    changed = false;
    for (const r of nodes) {
      if (r.op_type !== 'Relu' || !isQuantizable(r, exclude, initializers)) continue;
      const t = r.input?.[0] ?? '';
      const p = producerOf(t);
      if (!p || !isQuantizable(p, exclude, initializers) || graphOutputs.has(t) || p.output?.[0] !== t) continue;
      if (floatTensors.has(t) || floatTensors.has(r.output?.[0] ?? '')) continue;
      if (consumersOf(t).length !== 1) continue;
      const out = r.output?.[0] ?? '';
      p.output = [out, ...(p.output ?? []).slice(1)];
      nodes = nodes.filter((n) => n !== r);
      nonNegative.add(out);
      removedRelus++;
      changed = true;
      break;
    }
  }

  const quantNodes = nodes.filter((n) => isQuantizable(n, exclude, initializers));
  const quantTensors = new Set<string>();
  for (const n of quantNodes) {
    for (const i of ACTIVATION_INPUTS[n.op_type ?? ''](n)) {
      const name = n.input?.[i];
      if (name && !floatTensors.has(name)) quantTensors.add(name);
    }
    if (n.output?.[0] && !floatTensors.has(n.output[0])) quantTensors.add(n.output[0]);
  }

  // A data-movement op commutes with ReLU, so a clamp on its output also holds for its input.
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    if (!SAME_PARAMS.has(n.op_type ?? '') || !quantNodes.includes(n)) continue;
    const x = n.input?.[0] ?? '';
    if (nonNegative.has(n.output?.[0] ?? '') && consumersOf(x).length === 1 && !graphOutputs.has(x) && !initializers.has(x)) {
      nonNegative.add(x);
    }
  }

  const params = new Map<string, QParams>();
  const ownRanges: string[] = [];
  const scaled = (t: string, r: { lo: number; hi: number }) => {
    ownRanges.push(t);
    const f = o.rangeScale?.get(t) ?? 1;
    return uint8Params(r.lo * f, r.hi * f);
  };
  const paramsFor = (t: string): QParams => {
    const known = params.get(t);
    if (known) return known;
    let p: QParams;
    const init = initializers.get(t);
    if (init) {
      const v = tensorValues(init);
      let lo = 0;
      let hi = 0;
      for (const x of v) {
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
      p = uint8Params(lo, hi);
    } else {
      const producer = producerOf(t);
      const upstream = producer?.input?.[0];
      // A data-movement op is monotone and picks from its input, so its output fits the input's range.
      // Kept in float it still takes the input's parameters: then Q(op(x)) = op(Q(x)), the same
      // numbers as running it on uint8, while onnxruntime may run the float op in a faster layout.
      if (producer && SAME_PARAMS.has(producer.op_type ?? '') && upstream && quantTensors.has(upstream)) {
        p = paramsFor(upstream);
      } else if (o.sharedParams?.has(t)) {
        p = paramsFor(o.sharedParams.get(t) as string);
      } else if (o.fixedRanges?.has(t)) {
        p = scaled(t, o.fixedRanges.get(t) as { lo: number; hi: number });
      } else {
        const s = stats.get(t);
        if (!s) throw new Error(`no calibration statistics for tensor "${t}"`);
        p = scaled(t, activationRange({ graph: { ...src, node: nodes } }, t, s, o, nonNegative.has(t)));
      }
    }
    params.set(t, p);
    return p;
  };

  const newInits: OnnxTensor[] = [];
  const out: OnnxNode[] = [];
  const rename = new Map<string, string>(); // graph input → its DQ output
  const uid = (base: string) => base.replace(/[^A-Za-z0-9_./:-]/g, '_');
  const qdq = (from: string, to: string, t: string) => {
    const p = paramsFor(t);
    const s = `${uid(t)}__scale`;
    const z = `${uid(t)}__zp`;
    if (!newInits.some((x) => x.name === s)) {
      newInits.push(makeTensor(s, [], new Float32Array([p.scale])));
      newInits.push(makeTensor(z, [], new Uint8Array([p.zeroPoint])));
    }
    const q = `${uid(t)}__q`;
    out.push({ op_type: 'QuantizeLinear', name: `${uid(t)}/Q`, input: [from, s, z], output: [q] });
    out.push({ op_type: 'DequantizeLinear', name: `${uid(t)}/DQ`, input: [q, s, z], output: [to] });
  };

  for (const t of quantTensors) {
    if (graphInputs.has(t)) {
      rename.set(t, `${uid(t)}__dq`);
      qdq(t, `${uid(t)}__dq`, t);
    } else if (initializers.has(t)) {
      rename.set(t, `${uid(t)}__dq`);
      qdq(t, `${uid(t)}__dq`, t);
    }
  }

  /** A per-channel (axis 0) quantized initializer `${name}_q` and its DequantizeLinear; returns the float tensor's name. */
  const perChannelDq = (
    name: string,
    dims: number[],
    q: Int8Array | Int32Array,
    scale: Float32Array,
    zeroPoint: Int8Array | Int32Array,
  ): string => {
    newInits.push(makeTensor(`${name}_q`, dims, q));
    newInits.push(makeTensor(`${name}_scale`, [scale.length], scale));
    newInits.push(makeTensor(`${name}_zp`, [scale.length], zeroPoint));
    const slash = name.lastIndexOf('.');
    out.push({
      op_type: 'DequantizeLinear',
      name: `${name.slice(0, slash)}/${name.slice(slash + 1)}_DQ`,
      input: [`${name}_q`, `${name}_scale`, `${name}_zp`],
      output: [`${name}_dq`],
      attribute: [attr.int('axis', 0)],
    });
    return `${name}_dq`;
  };

  const usedWeights = new Set<string>();
  let convs = 0;
  for (const n0 of nodes) {
    const n: OnnxNode = { ...n0, input: (n0.input ?? []).map((x) => rename.get(x) ?? x) };
    const quantized = quantNodes.includes(n0);
    if (quantized && n.op_type === 'Conv') {
      convs++;
      const xScale = paramsFor(n0.input?.[0] ?? '').scale;
      const wName = n0.input?.[1] ?? '';
      const w = initializers.get(wName) as OnnxTensor;
      const dims = w.dims ?? [];
      const cout = dims[0];
      const per = tensorValues(w).length / cout;
      const wv = tensorValues(w);
      const wq = new Int8Array(wv.length);
      const wScale = new Float32Array(cout);
      for (let c = 0; c < cout; c++) {
        let m = 0;
        for (let k = 0; k < per; k++) m = Math.max(m, Math.abs(wv[c * per + k]));
        const s = m > 0 ? m / qmax : 1;
        wScale[c] = s;
        for (let k = 0; k < per; k++) {
          wq[c * per + k] = Math.max(-qmax, Math.min(qmax, Math.round(wv[c * per + k] / s)));
        }
      }
      const base = uid(n0.name || wName);
      n.input = [...(n.input ?? [])];
      n.input[1] = perChannelDq(`${base}.w`, dims, wq, wScale, new Int8Array(cout));
      usedWeights.add(wName);
      const bName = n0.input?.[2];
      if (bName) {
        const bv = tensorValues(initializers.get(bName) as OnnxTensor);
        const bq = new Int32Array(cout);
        const bScale = new Float32Array(cout);
        for (let c = 0; c < cout; c++) {
          bScale[c] = xScale * wScale[c];
          bq[c] = Math.max(-2147483647, Math.min(2147483647, Math.round(bv[c] / bScale[c])));
        }
        n.input[2] = perChannelDq(`${base}.b`, [cout], bq, bScale, new Int32Array(cout));
        usedWeights.add(bName);
      }
    }
    const y = n.output?.[0];
    if (y && quantTensors.has(y) && !graphInputs.has(y)) {
      const pre = `${uid(y)}__f`;
      n.output = [pre, ...(n.output ?? []).slice(1)];
      out.push(n);
      qdq(pre, y, y);
    } else {
      out.push(n);
    }
  }

  // drop float weights nothing reads any more
  const stillRead = new Set(out.flatMap((n) => n.input ?? []));
  const keptInits = (src.initializer ?? []).filter((t) => !usedWeights.has(t.name ?? '') || stillRead.has(t.name ?? ''));
  const keptInputs = (src.input ?? []).filter((v) => !initializers.has(v.name ?? '') || keptInits.some((t) => t.name === v.name));

  const result: OnnxModel = {
    ...model,
    producer_name: 'rayleigh-quantize',
    graph: {
      ...src,
      node: out,
      initializer: [...keptInits, ...newInits],
      input: keptInputs,
      value_info: [],
    },
  };
  return {
    model: result,
    report: { quantizedNodes: quantNodes.length, convs, removedRelus, tensors: quantTensors.size, ownRanges },
  };
}
