/**
 * A U-Net cut at its levels, so a frame can stream through it in full-width row bands.
 *
 * Why: overlap tiles of the whole network pay the whole receptive field (~70 px for the DAMN
 * network) as a halo on every side, at full resolution, where 60 % of the work is. Cut at every
 * tensor that enters a MaxPool or a Resize, each part runs at one or two resolutions and needs
 * only its own few rows of context (2–4 rows of its own grid); the parts' outputs are kept, a
 * band of rows at a time, until every consumer has read them. Full-width bands need no context
 * across columns; a part cut into column tiles to bound its memory needs its few columns too.
 * The result equals the whole network's: every kept row is one whose inputs were all exact
 * (checked in tests/unit/inference/bands.test.ts).
 *
 * The analysis below reads the graph (Conv, pooling, nearest Resize, DepthToSpace, Concat and
 * per-pixel ops, float or QDQ) and refuses anything it cannot prove row-local; the daemon then
 * falls back to overlap tiles (tiling.ts).
 */
import { attrInt, attrInts, attrString, DataType, makeValueInfo, type OnnxModel, type OnnxNode, tensorValues } from '../onnx/model.ts';
import { extractSubgraph } from '../onnx/subgraph.ts';

/** A tensor between parts: its grid (frame rows per row), channels and element type. */
export interface LevelTensor {
  name: string;
  /** frame (input) pixels per pixel of this tensor along each axis: 1, 2, 4, 8, or 1/4 for the fine output */
  stride: number;
  channels: number;
  uint8: boolean;
}

export interface BandPart {
  model: OnnxModel;
  /** tensors the part reads (the frame input or earlier parts' outputs) */
  inputs: string[];
  output: string;
  /** frame rows (columns) of context the part's output needs above and below (left and right of) what it keeps */
  above: number;
  below: number;
  left: number;
  right: number;
  /** multiply-accumulates per frame pixel (its convolutions at their own grids) */
  macsPerPixel: number;
  /** estimated activation bytes per frame pixel of a band: what the band height is budgeted by */
  bytesPerPixel: number;
  /** the part's band edges are multiples of this many frame rows (its coarsest grid) */
  multiple: number;
}

export interface BandGraph {
  input: string;
  output: string;
  /** every input, output and cut tensor */
  tensors: Record<string, LevelTensor>;
  /** in an order in which every part's inputs come from earlier parts or the frame */
  parts: BandPart[];
  /** band boundaries are multiples of this many frame rows (the coarsest grid's stride) */
  multiple: number;
  /** output pixels per input pixel along each axis */
  scale: number;
}

interface Info {
  stride: number;
  channels: number;
  uint8: boolean;
}

/** Frame pixels of context on each side. */
interface Context {
  above: number;
  below: number;
  left: number;
  right: number;
}

const POINTWISE = new Set([
  'Relu',
  'LeakyRelu',
  'Sigmoid',
  'Tanh',
  'Softplus',
  'Exp',
  'Log',
  'Abs',
  'Neg',
  'Sqrt',
  'Clip',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Max',
  'Min',
  'Identity',
  'QuantizeLinear',
  'DequantizeLinear',
]);
const REDUCE = new Set(['ReduceMax', 'ReduceSum', 'ReduceMean', 'ReduceMin']);

const roundUp = (v: number, m: number) => Math.ceil(v / m - 1e-9) * m;

class GraphFacts {
  readonly producer = new Map<string, OnnxNode>();
  readonly consts = new Map<string, { dims: number[]; values: () => Float64Array; dataType: number }>();

  constructor(readonly model: OnnxModel) {
    const g = model.graph ?? {};
    for (const t of g.initializer ?? []) {
      if (t.name) this.consts.set(t.name, { dims: t.dims ?? [], values: () => tensorValues(t), dataType: t.data_type ?? 0 });
    }
    for (const n of g.node ?? []) {
      for (const o of n.output ?? []) if (o) this.producer.set(o, n);
      const t = n.op_type === 'Constant' ? n.attribute?.find((a) => a.name === 'value')?.t : undefined;
      if (t && n.output?.[0])
        this.consts.set(n.output[0], { dims: t.dims ?? [], values: () => tensorValues(t), dataType: t.data_type ?? 0 });
    }
  }

  private readonly constMemo = new Map<string, boolean>();

  isConst(name: string): boolean {
    if (name === '' || this.consts.has(name)) return true;
    const known = this.constMemo.get(name);
    if (known !== undefined) return known;
    const p = this.producer.get(name);
    // dequantised weights and similar: a node whose inputs are all constant
    const v = p !== undefined && p.op_type !== 'Constant' && (p.input ?? []).every((i) => this.isConst(i));
    this.constMemo.set(name, v);
    return v;
  }

  /** Dims of a constant, looking through a DequantizeLinear of weights. */
  constDims(name: string): number[] | undefined {
    const c = this.consts.get(name);
    if (c) return c.dims;
    const p = this.producer.get(name);
    if (p?.op_type === 'DequantizeLinear') return this.constDims(p.input?.[0] ?? '');
    return undefined;
  }

  constValues(name: string): number[] | undefined {
    const c = this.consts.get(name);
    return c ? [...c.values()] : undefined;
  }
}

function fail(n: OnnxNode, why: string): never {
  throw new Error(`${n.op_type} ${n.name ?? '(unnamed)'}: ${why}`);
}

/** Shape facts of one node's outputs, how it widens the context its output needs, and its MACs per frame pixel. */
interface NodeRule {
  outs: Info[];
  grow: (c: Context) => Context;
  macs: number;
}

function nodeRule(f: GraphFacts, n: OnnxNode, ins: Info[]): NodeRule {
  const op = n.op_type ?? '';
  const x = ins[0];
  const same = { grow: (c: Context) => c, macs: 0 };
  if (ins.some((i) => i.stride !== x.stride)) fail(n, 'inputs on different grids');
  if (op === 'Conv') {
    const w = f.constDims(n.input?.[1] ?? '');
    if (!w || w.length !== 4) fail(n, 'weights are not a constant 4-D tensor');
    if (attrString(n, 'auto_pad', 'NOTSET') !== 'NOTSET') fail(n, 'auto_pad is not supported');
    if (attrInts(n, 'strides', [1, 1]).some((s) => s !== 1)) fail(n, 'strided convolution');
    const [dh, dw] = attrInts(n, 'dilations', [1, 1]);
    const [pt, pl, pb, pr] = attrInts(n, 'pads', [0, 0, 0, 0]);
    if (pt + pb !== dh * (w[2] - 1) || pl + pr !== dw * (w[3] - 1)) fail(n, 'output is not the input size ("same" padding)');
    const s = x.stride;
    return {
      outs: [{ stride: s, channels: w[0], uint8: false }],
      grow: (c) => ({ above: c.above + pt * s, below: c.below + pb * s, left: c.left + pl * s, right: c.right + pr * s }),
      // w[1] is already input channels per group
      macs: (w[0] * w[1] * w[2] * w[3]) / (s * s),
    };
  }
  if (op === 'MaxPool' || op === 'AveragePool') {
    const k = attrInts(n, 'kernel_shape', []);
    const st = attrInts(n, 'strides', [1, 1]);
    if (k.length !== 2 || k[0] !== k[1] || st[0] !== k[0] || st[1] !== k[1]) fail(n, 'pooling window is not square with stride = kernel');
    if (attrInts(n, 'pads', [0, 0, 0, 0]).some((p) => p !== 0)) fail(n, 'padded pooling');
    if (attrInts(n, 'dilations', [1, 1]).some((d) => d !== 1)) fail(n, 'dilated pooling');
    if ((n.output?.length ?? 1) > 1 && n.output?.[1]) fail(n, 'pooling indices output');
    const s = x.stride * k[0];
    return {
      outs: [{ ...x, stride: s }],
      grow: (c) => ({ above: roundUp(c.above, s), below: roundUp(c.below, s), left: roundUp(c.left, s), right: roundUp(c.right, s) }),
      macs: 0,
    };
  }
  if (op === 'Resize') {
    if (attrString(n, 'mode', 'nearest') !== 'nearest') fail(n, 'only nearest resizing is row-exact');
    const ctm = attrString(n, 'coordinate_transformation_mode', 'half_pixel');
    const nm = attrString(n, 'nearest_mode', 'round_prefer_floor');
    if (!(ctm === 'asymmetric' && nm === 'floor')) fail(n, `nearest resizing with ${ctm}/${nm} (asymmetric/floor is supported)`);
    if (n.input?.[3]) fail(n, 'resizing to sizes (scales are supported)');
    const sc = f.constValues(n.input?.[2] ?? '');
    if (!sc || sc.length !== 4 || sc[0] !== 1 || sc[1] !== 1 || sc[2] !== sc[3] || !Number.isInteger(sc[2]) || sc[2] < 1) {
      fail(n, 'scales are not a constant [1, 1, s, s] with integer s');
    }
    return { outs: [{ ...x, stride: x.stride / sc[2] }], ...same };
  }
  if (op === 'DepthToSpace') {
    const b = attrInt(n, 'blocksize', 0);
    if (b < 1 || x.channels % (b * b) !== 0) fail(n, 'block size does not divide the channels');
    return { outs: [{ ...x, stride: x.stride / b, channels: x.channels / (b * b) }], ...same };
  }
  if (op === 'Concat') {
    if (attrInt(n, 'axis', 1) !== 1) fail(n, 'concatenation is not over channels');
    if ((n.input ?? []).some((i) => f.isConst(i))) fail(n, 'concatenation of a constant');
    return { outs: [{ ...x, channels: ins.reduce((s, i) => s + i.channels, 0) }], ...same };
  }
  if (op === 'Split') {
    if (attrInt(n, 'axis', 0) !== 1) fail(n, 'split is not over channels');
    const count = n.output?.length ?? 1;
    const sizes = (n.input?.[1] ? f.constValues(n.input[1]) : undefined) ?? attrInts(n, 'split', []);
    const sz = sizes.length === count ? sizes : Array.from({ length: count }, () => x.channels / count);
    return { outs: sz.map((c) => ({ ...x, channels: c })), ...same };
  }
  if (op === 'Pad') {
    if (attrString(n, 'mode', 'constant') !== 'constant') fail(n, 'non-constant padding');
    if (n.input?.[3]) fail(n, 'padding with an axes input');
    const p = f.constValues(n.input?.[1] ?? '');
    if (!p || p.length !== 8 || p[0] || p[2] || p[3] || p[4] || p[6] || p[7]) fail(n, 'padding outside the channel axis');
    return { outs: [{ ...x, channels: x.channels + p[1] + p[5] }], ...same };
  }
  if (REDUCE.has(op)) {
    const axes = n.input?.[1] ? f.constValues(n.input[1]) : attrInts(n, 'axes', []);
    if (!axes || axes.length !== 1 || axes[0] !== 1 || attrInt(n, 'keepdims', 1) !== 1) fail(n, 'reduction is not over channels alone');
    return { outs: [{ ...x, channels: 1 }], ...same };
  }
  if (POINTWISE.has(op)) {
    let uint8 = false;
    if (op === 'QuantizeLinear') {
      // without a zero point ONNX quantises to uint8, unless opset 21's output_dtype says otherwise
      const zp = n.input?.[2];
      const t = zp ? f.consts.get(zp) : undefined;
      if (zp && !t) fail(n, 'the zero point is not a constant');
      if ((t && t.dataType !== DataType.UINT8) || attrInt(n, 'output_dtype', DataType.UINT8) !== DataType.UINT8) {
        fail(n, 'quantised activations that are not uint8');
      }
      uint8 = true;
    }
    // a constant operand may only broadcast per channel (a bias, a scale), never along rows or columns
    for (const i of n.input ?? []) {
      const d = f.isConst(i) ? f.constDims(i) : undefined;
      if (d && d.length >= 3 && (d[d.length - 1] > 1 || d[d.length - 2] > 1)) fail(n, `constant operand ${i} varies along rows or columns`);
      if (d && d.length === 4 && d[1] > Math.max(...ins.map((x) => x.channels))) fail(n, `constant operand ${i} adds channels`);
    }
    return { outs: [{ ...x, channels: Math.max(...ins.map((i) => i.channels)), uint8 }], ...same };
  }
  fail(n, 'not known to be row-local');
}

/**
 * Cut a single-input, single-output network at its levels. Throws, saying which node, when some
 * part of the graph is not one the bands can run exactly.
 */
export function analyseBands(model: OnnxModel): BandGraph {
  const g = model.graph ?? {};
  const f = new GraphFacts(model);
  const inputs = (g.input ?? []).filter((v) => !f.consts.has(v.name ?? ''));
  if (inputs.length !== 1 || (g.output ?? []).length !== 1) throw new Error('the model must have one input and one output');
  const input = inputs[0].name as string;
  const output = g.output?.[0].name as string;
  const nodes = g.node ?? [];

  // every tensor's grid, channels and type, from the input forwards
  const info = new Map<string, Info>([[input, { stride: 1, channels: 1, uint8: false }]]);
  const rules = new Map<OnnxNode, NodeRule>();
  const order = new Map<string, number>();
  nodes.forEach((n, k) => {
    for (const o of n.output ?? []) order.set(o, k);
    if (n.op_type === 'Constant' || (n.output ?? []).every((o) => f.isConst(o))) return;
    const ins = (n.input ?? []).filter((i) => !f.isConst(i)).map((i) => info.get(i) ?? fail(n, `input ${i} comes from nowhere`));
    if (ins.length === 0) return;
    const rule = nodeRule(f, n, ins);
    rules.set(n, rule);
    (n.output ?? []).forEach((o, i) => {
      if (o) info.set(o, rule.outs[Math.min(i, rule.outs.length - 1)]);
    });
  });
  const out = info.get(output);
  if (!out) throw new Error(`output ${output} is not computed from the input`);
  if (out.channels !== 1) throw new Error(`output ${output} has ${out.channels} channels, expected 1`);
  if (out.uint8) throw new Error(`output ${output} is quantised`);

  // float tensors that onnxruntime never makes in a QDQ graph: a dequantised activation read only
  // by ops it runs on uint8 (QLinearConv, MaxPool, Resize, QLinearConcat), and such an op's output
  // read only by a QuantizeLinear
  const consumers = new Map<string, OnnxNode[]>();
  for (const n of nodes) for (const i of n.input ?? []) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const UINT8_OPS = new Set(['Conv', 'MaxPool', 'Resize', 'Concat']);
  const fusedToUint8 = (t: string): boolean => {
    const p = f.producer.get(t);
    const readers = consumers.get(t) ?? [];
    if (readers.length === 0 || !p) return false;
    if (p.op_type === 'DequantizeLinear' && !f.isConst(p.input?.[0] ?? '')) {
      return readers.every(
        (r) =>
          UINT8_OPS.has(r.op_type ?? '') && (r.op_type !== 'Conv' || f.producer.get(r.input?.[1] ?? '')?.op_type === 'DequantizeLinear'),
      );
    }
    return UINT8_OPS.has(p.op_type ?? '') && readers.every((r) => r.op_type === 'QuantizeLinear');
  };

  // cut before every change of grid: at the tensor a MaxPool or Resize reads (its quantised form in a QDQ graph)
  const cuts: string[] = [];
  for (const n of nodes) {
    if (!['MaxPool', 'AveragePool', 'Resize'].includes(n.op_type ?? '')) continue;
    let t = n.input?.[0] ?? '';
    const p = f.producer.get(t);
    if (p?.op_type === 'DequantizeLinear' && !f.isConst(p.input?.[0] ?? '')) t = p.input?.[0] ?? t;
    if (t !== input && !cuts.includes(t)) cuts.push(t);
  }
  const tensors: Record<string, LevelTensor> = {};
  for (const t of [input, output, ...cuts]) tensors[t] = { name: t, ...(info.get(t) as Info) };
  const valueInfo = (t: string, k: number) =>
    makeValueInfo(t, tensors[t].uint8 ? DataType.UINT8 : DataType.FLOAT, ['N', tensors[t].channels, `h${k}`, `w${k}`]);

  const parts: BandPart[] = [...cuts, output]
    .sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0))
    .map((target, k) => {
      const stops = [input, ...cuts].filter((t) => t !== target);
      const sub = extractSubgraph(
        model,
        stops.map((t, i) => valueInfo(t, i)),
        [valueInfo(target, stops.length)],
        `${g.name ?? 'graph'}-part${k}`,
      );
      const partInputs = (sub.graph?.input ?? []).map((v) => v.name as string);
      // context and cost, from the part's own inputs (no context needed) forwards
      const ctx = new Map<string, Context>(partInputs.map((t) => [t, { above: 0, below: 0, left: 0, right: 0 }]));
      const bytes = (t: string) => {
        const i = info.get(t) as Info;
        if (i.uint8 || fusedToUint8(t)) return i.channels / (i.stride * i.stride);
        // a float convolution's output is made in onnxruntime's blocked layout (channels in blocks of 16)
        const c = f.producer.get(t)?.op_type === 'Conv' ? Math.ceil(i.channels / 16) * 16 : i.channels;
        return (c * 4) / (i.stride * i.stride);
      };
      let macs = 0;
      let coarsest = Math.max(1, ...partInputs.map((t) => (info.get(t) as Info).stride), (info.get(target) as Info).stride);
      let peak = 0;
      for (const n of sub.graph?.node ?? []) {
        const live = (n.input ?? []).filter((i) => ctx.has(i));
        if (live.length === 0) continue;
        const cs = live.map((i) => ctx.get(i) as Context);
        const widest: Context = {
          above: Math.max(...cs.map((c) => c.above)),
          below: Math.max(...cs.map((c) => c.below)),
          left: Math.max(...cs.map((c) => c.left)),
          right: Math.max(...cs.map((c) => c.right)),
        };
        // the parts hold the graph's own node objects: the rule worked out in the pass above
        const rule = rules.get(n) as NodeRule;
        macs += rule.macs;
        let nodeBytes = live.reduce((s, i) => s + bytes(i), 0);
        for (const o of n.output ?? []) {
          if (!o) continue;
          ctx.set(o, rule.grow(widest));
          coarsest = Math.max(coarsest, (info.get(o) as Info).stride);
          nodeBytes += bytes(o);
        }
        peak = Math.max(peak, nodeBytes);
      }
      const c = ctx.get(target) as Context;
      const held = partInputs.reduce((s, t) => s + bytes(t), 0);
      // ×2: onnxruntime keeps reordered copies next to the plain tensors (blocked layout for float
      // convolutions, channels-last for QLinearConv). For the shipped INT8 model this estimates
      // 260, 80, 40, 15, 41, 91, 408 B/px; run alone, the parts measured 201, 93, 40, 23, 47, 108,
      // 692 (bench/results/band-memory.json): within 1.5×, but the last part's float head measured
      // 1.7× its estimate, which is why the worker takes the manifest's measured figures when it has them
      return {
        model: sub,
        inputs: partInputs,
        output: target,
        ...c,
        macsPerPixel: macs,
        bytesPerPixel: 2 * peak + held,
        multiple: coarsest,
      };
    });
  if (parts[parts.length - 1].output !== output) throw new Error(`a cut (${parts[parts.length - 1].output}) is made after the output`);
  const multiple = Math.max(1, ...[...info.values()].map((i) => i.stride));
  return { input, output, tensors, parts, multiple, scale: 1 / out.stride };
}

export interface BandShape {
  /** frame rows per band (a multiple of the graph's multiple) */
  rows: number;
  /** column tiles each part runs a band in, by part */
  columns: number[];
}

/**
 * What one network run costs besides its arithmetic, and one row of one channel copied between
 * a tile and a store, in multiply-accumulates: measured here, a part's run on a tiny input took
 * 0.1–0.7 ms and a row copy ~170 ns, against ~1e11 MAC/s of INT8 convolution (2 cores).
 */
const RUN_COST_MACS = 3e7;
const ROW_COPY_MACS = 1.7e4;

/**
 * Bands for a frame within `budgetBytes` of activations (0: no budget, one band). Each part's
 * session keeps its own arena, so the parts share the budget: a band of R rows costs
 * Σ R × (tile width + context) × bytes per pixel over the parts. Of every band height that fits
 * (cutting the hungriest parts into column tiles where that pays), the one with the least
 * modelled time: the rows and columns of context each part recomputes, weighted by its MACs,
 * plus each run's fixed cost and the row copies that column tiles add.
 */
export function bandShape(g: BandGraph, width: number, height: number, multiple: number, budgetBytes: number): BandShape {
  const m = Math.max(multiple, g.multiple);
  const H = roundUp(height, m);
  const W = roundUp(width, m);
  const P = g.parts.length;
  if (!(budgetBytes > 0)) return { rows: H, columns: g.parts.map(() => 1) };
  const channels = (t: string) => g.tensors[t].channels / g.tensors[t].stride;
  const tileMem = (k: number, R: number, n: number) => {
    const p = g.parts[k];
    return (R + p.above + p.below) * (W / n + (n > 1 ? p.left + p.right : 0)) * p.bytesPerPixel;
  };
  const time = (R: number, cols: number[]) => {
    const bands = Math.ceil(H / R);
    let t = 0;
    g.parts.forEach((p, k) => {
      const n = cols[k];
      const rows = Math.min(H, R + p.above + p.below);
      t += bands * p.macsPerPixel * rows * (W + (n - 1) * (p.left + p.right));
      t += bands * n * RUN_COST_MACS;
      // a tiled part's inputs are read, and its output assembled, one row of one channel at a time
      if (n > 1) t += bands * n * ROW_COPY_MACS * rows * (p.inputs.reduce((s, i) => s + channels(i), 0) + channels(p.output));
    });
    return t;
  };
  let best: BandShape | undefined;
  let bestTime = Number.POSITIVE_INFINITY;
  const maxCols = Math.max(1, Math.floor(W / (8 * m)));
  // a frame shorter than four grid steps is one band
  for (let R = Math.min(4 * m, H); R <= H; R += m) {
    const cols = g.parts.map(() => 1);
    let used = cols.reduce((s, n, k) => s + tileMem(k, R, n), 0);
    // cut the part whose next column split saves the most memory until the band fits
    while (used > budgetBytes) {
      let pick = -1;
      let saved = 0;
      for (let k = 0; k < P; k++) {
        if (cols[k] >= maxCols) continue;
        const s = tileMem(k, R, cols[k]) - tileMem(k, R, cols[k] + 1);
        if (s > saved) {
          saved = s;
          pick = k;
        }
      }
      if (pick < 0) break;
      used -= saved;
      cols[pick]++;
    }
    if (used > budgetBytes) {
      // taller bands only need more: when even the shortest cannot fit, it is the least bad
      best ??= { rows: R, columns: cols };
      break;
    }
    const t = time(R, cols);
    if (t < bestTime) {
      bestTime = t;
      best = { rows: R, columns: cols };
    }
  }
  return best as BandShape;
}
