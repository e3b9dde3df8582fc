/**
 * Rewrites of an FP32 graph that leave its function unchanged (up to float rounding) but run
 * faster once quantized.
 *
 * Sibling Convs: two or more Convs that read the same tensor with the same geometry become one Conv
 * with their output channels stacked, followed by a Split. onnxruntime's QLinearConv with a single
 * output channel (the DAMN mass head) took longer than the 32-channel layer before it (512² frame:
 * 10.8 ms against 4.5 ms, `bench/op-profile.ts --nodes`); stacked, it shares the 16-channel
 * sub-pixel head's pass over the input.
 *
 * A stacked output is quantized with one scale, so a sibling whose values span a much narrower range
 * than the others would lose precision. Its weights and bias are therefore multiplied by a gain g that
 * stretches its range to the widest sibling's, and a Mul by 1/g after the Split restores its values:
 * the same function, but the narrow sibling now uses as many uint8 levels as the wide one.
 */
import {
  attr,
  attrInt,
  attrInts,
  attrString,
  int64Tensor,
  makeTensor,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
  tensorValues,
} from '../../onnx/model.ts';

export interface MergedConv {
  /** name of the new Conv node */
  name: string;
  /** the original Conv node names, in channel order */
  merged: string[];
  /** per original Conv, the gain its channels carry inside the stacked output (1 = none) */
  gains: number[];
  /** the stacked output tensor */
  output: string;
}

const GEOMETRY = ['kernel_shape', 'strides', 'pads', 'dilations'] as const;

function geometryKey(n: OnnxNode): string {
  return JSON.stringify([...GEOMETRY.map((a) => attrInts(n, a, [])), attrInt(n, 'group', 1)]);
}

/**
 * Groups of float Convs (group = 1, constant float weights) that read the same input with the same
 * geometry. Convs named in `floatNodes` (kept in float) only group with each other, so a stacked Conv
 * is either wholly quantized or wholly float.
 */
export function siblingConvGroups(model: OnnxModel, floatNodes: Set<string> = new Set()): OnnxNode[][] {
  const g = model.graph ?? {};
  const inits = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
  const byKey = new Map<string, OnnxNode[]>();
  for (const n of g.node ?? []) {
    if (n.op_type !== 'Conv' || (n.domain && n.domain !== 'ai.onnx') || !n.name) continue;
    if (attrInt(n, 'group', 1) !== 1 || attrString(n, 'auto_pad', 'NOTSET') !== 'NOTSET') continue;
    const w = inits.get(n.input?.[1] ?? '');
    if (!w || (w.dims ?? []).length !== 4) continue;
    const b = n.input?.[2];
    if (b && !inits.has(b)) continue;
    const key = `${n.input?.[0]}|${geometryKey(n)}|${(w.dims ?? []).slice(1).join('x')}|${floatNodes.has(n.name) ? 'float' : 'int8'}`;
    byKey.set(key, [...(byKey.get(key) ?? []), n]);
  }
  return [...byKey.values()].filter((group) => group.length > 1);
}

/**
 * Stack each group of sibling Convs into one Conv + Split. `gainFor(convName)` gives the gain of each
 * original Conv's channels (1 when omitted). The original output tensors keep their names, so every
 * reader is untouched.
 */
export function mergeSiblingConvs(
  model: OnnxModel,
  groups: OnnxNode[][],
  gainFor: (conv: OnnxNode) => number = () => 1,
): { model: OnnxModel; merged: MergedConv[] } {
  const src = model.graph ?? {};
  const inits = new Map((src.initializer ?? []).map((t) => [t.name ?? '', t]));
  const drop = new Set<OnnxNode>();
  const dropInits = new Set<string>();
  const newInits: OnnxTensor[] = [];
  const replacement = new Map<OnnxNode, OnnxNode[]>();
  const merged: MergedConv[] = [];
  for (const group of groups) {
    const first = group[0];
    const name = `/${group.map((n) => (n.name ?? '').replace(/^\//, '').replace(/\/Conv$/, '')).join('+')}/Conv`;
    const base = name.replace(/[^A-Za-z0-9_./+-]/g, '_');
    const gains = group.map((n) => {
      const k = gainFor(n);
      if (!(k > 0 && Number.isFinite(k))) throw new Error(`gain for ${n.name}: expected a positive number, got ${k}`);
      return k;
    });
    const dims0 = inits.get(first.input?.[1] ?? '')?.dims ?? [];
    const per = dims0.slice(1).reduce((a, b) => a * b, 1);
    const couts = group.map((n) => inits.get(n.input?.[1] ?? '')?.dims?.[0] ?? 0);
    const total = couts.reduce((a, b) => a + b, 0);
    const w = new Float32Array(total * per);
    const b = new Float32Array(total);
    let at = 0;
    group.forEach((n, i) => {
      const wv = tensorValues(inits.get(n.input?.[1] ?? '') as OnnxTensor);
      for (let k = 0; k < wv.length; k++) w[at * per + k] = wv[k] * gains[i];
      const bName = n.input?.[2];
      if (bName) {
        const bv = tensorValues(inits.get(bName) as OnnxTensor);
        for (let k = 0; k < bv.length; k++) b[at + k] = bv[k] * gains[i];
        dropInits.add(bName);
      }
      dropInits.add(n.input?.[1] ?? '');
      at += couts[i];
    });
    const wName = `${base}.weight`;
    const bName = `${base}.bias`;
    const splitName = `${base}.split`;
    const stacked = `${base}_output_0`;
    newInits.push(
      makeTensor(wName, [total, ...dims0.slice(1)], w),
      makeTensor(bName, [total], b),
      int64Tensor(splitName, [couts.length], couts),
    );
    const conv: OnnxNode = {
      op_type: 'Conv',
      name,
      input: [first.input?.[0] ?? '', wName, bName],
      output: [stacked],
      attribute: (first.attribute ?? []).map((a) => ({ ...a })),
    };
    const parts = group.map((n, i) => (gains[i] === 1 ? (n.output?.[0] ?? '') : `${base}_part${i}`));
    const split: OnnxNode = {
      op_type: 'Split',
      name: `${base}/Split`,
      input: [stacked, splitName],
      output: parts,
      attribute: [attr.int('axis', 1)],
    };
    const undo: OnnxNode[] = [];
    group.forEach((n, i) => {
      if (gains[i] === 1) return;
      const inv = `${base}.ungain${i}`;
      newInits.push(makeTensor(inv, [], new Float32Array([1 / gains[i]])));
      undo.push({ op_type: 'Mul', name: `${base}/Ungain${i}`, input: [parts[i], inv], output: [n.output?.[0] ?? ''] });
    });
    // the stacked Conv goes where the first sibling was: its input exists there, and every reader
    // of any sibling's output comes later
    for (const n of group) drop.add(n);
    replacement.set(first, [conv, split, ...undo]);
    merged.push({ name, merged: group.map((n) => n.name ?? ''), gains, output: stacked });
  }
  const nodes: OnnxNode[] = [];
  for (const n of src.node ?? []) {
    const r = replacement.get(n);
    if (r) nodes.push(...r);
    else if (!drop.has(n)) nodes.push(n);
  }
  const stillRead = new Set(nodes.flatMap((n) => n.input ?? []));
  const initializer = [...(src.initializer ?? []).filter((t) => !dropInits.has(t.name ?? '') || stillRead.has(t.name ?? '')), ...newInits];
  const names = new Set(initializer.map((t) => t.name));
  const input = (src.input ?? []).filter((v) => !inits.has(v.name ?? '') || names.has(v.name));
  return { model: { ...model, graph: { ...src, node: nodes, initializer, input, value_info: [] } }, merged };
}

/**
 * Identity 1×1 Convs ("layout anchors") on tensors that enter the quantized part of the graph from
 * float layers and are read by a pooling op. onnxruntime runs QLinearConv in NHWC and converts a
 * uint8 MaxPool to its fast NHWC form only when its input already comes from an NHWC op; a MaxPool
 * fed by a QuantizeLinear of a float layer's output stays in NCHW, where the uint8 MaxPool kernel
 * took 13 ms of the 141 ms a 512² DAMN frame spent in kernels (NHWC: under 1 ms), and the same tensor is transposed a
 * second time for the next Concat. With the anchor (quantized with its input's parameters, so it
 * is exact) the tensor is transposed once and every reader runs in NHWC.
 *
 * Returns the anchors' (input, output) tensor names; readers of each input now read the output.
 */
export function insertLayoutAnchors(
  model: OnnxModel,
  tensors: string[],
): { model: OnnxModel; anchors: Array<{ from: string; to: string; name: string }> } {
  if (tensors.length === 0) return { model, anchors: [] };
  const src = model.graph ?? {};
  const channels = new Map<string, number>();
  const inits = new Map((src.initializer ?? []).map((t) => [t.name ?? '', t]));
  // the channel count of a tensor: the output channels of the Conv that made it, through Relu
  const producer = (t: string) => (src.node ?? []).find((n) => n.output?.includes(t));
  for (const t of tensors) {
    let p = producer(t);
    while (p && p.op_type === 'Relu') p = producer(p.input?.[0] ?? '');
    const c = p?.op_type === 'Conv' ? inits.get(p.input?.[1] ?? '')?.dims?.[0] : undefined;
    if (!c) throw new Error(`layout anchor for "${t}": its channel count is not known (not made by a Conv)`);
    channels.set(t, c);
  }
  const newInits: OnnxTensor[] = [];
  const anchors: Array<{ from: string; to: string; name: string }> = [];
  const nodes: OnnxNode[] = [];
  const anchored = new Map<string, string>();
  for (const t of tensors) anchored.set(t, `${t}__anchor`);
  for (const n of src.node ?? []) {
    // every reader of an anchored tensor reads the anchor's output instead
    nodes.push({ ...n, input: (n.input ?? []).map((x) => anchored.get(x) ?? x) });
    for (const t of n.output ?? []) {
      const to = anchored.get(t);
      if (!to) continue;
      const c = channels.get(t) as number;
      const eye = new Float32Array(c * c);
      for (let i = 0; i < c; i++) eye[i * c + i] = 1;
      const name = `${t.replace(/_output_0$/, '')}/LayoutAnchor`;
      const w = `${to}.weight`;
      newInits.push(makeTensor(w, [c, c, 1, 1], eye));
      nodes.push({ op_type: 'Conv', name, input: [t, w], output: [to], attribute: [attr.ints('kernel_shape', [1, 1])] });
      anchors.push({ from: t, to, name });
    }
  }
  const outputs = new Set((src.output ?? []).map((v) => v.name));
  for (const t of tensors) if (outputs.has(t)) throw new Error(`layout anchor for "${t}": it is a graph output`);
  return { model: { ...model, graph: { ...src, node: nodes, initializer: [...(src.initializer ?? []), ...newInits] } }, anchors };
}

/**
 * A channel softmax spelled out as ReduceMax(axis 1) → Sub → Exp … only depends on differences
 * between channels, so the Conv that makes its logits can drop one output channel: logits
 * z_i − z_last come from weights w_i − w_last (bias likewise), and a zero channel padded back in
 * place of the last one gives the same softmax. For the DAMN head that turns 1 mass + 16 sub-pixel
 * channels into 16, one block of onnxruntime's NCHWc float Conv instead of two.
 *
 * Returns the Convs rewritten. The logits tensor keeps its name, so its readers are untouched.
 */
export function dropSoftmaxDegree(model: OnnxModel): { model: OnnxModel; convs: string[] } {
  const src = model.graph ?? {};
  const nodes = src.node ?? [];
  const inits = new Map((src.initializer ?? []).map((t) => [t.name ?? '', t]));
  const outputs = new Set((src.output ?? []).map((v) => v.name));
  const changed: string[] = [];
  const newInits: OnnxTensor[] = [];
  const replaced = new Map<OnnxNode, OnnxNode[]>();
  const dropInits = new Set<string>();
  for (const c of nodes) {
    if (c.op_type !== 'Conv' || attrInt(c, 'group', 1) !== 1 || !c.name) continue;
    const t = c.output?.[0] ?? '';
    const w = inits.get(c.input?.[1] ?? '');
    const bName = c.input?.[2];
    if (!w || (w.dims ?? []).length !== 4 || (w.dims?.[0] ?? 0) < 2 || (bName && !inits.has(bName)) || outputs.has(t)) continue;
    const readers = nodes.filter((n) => n.input?.includes(t));
    const max = readers.find((n) => n.op_type === 'ReduceMax');
    const sub = readers.find((n) => n.op_type === 'Sub');
    if (readers.length !== 2 || !max || !sub) continue;
    const axes = attrInts(max, 'axes', []);
    if (axes.length !== 1 || (axes[0] !== 1 && axes[0] !== -3) || attrInt(max, 'keepdims', 1) !== 1) continue;
    if (sub.input?.[0] !== t || sub.input?.[1] !== max.output?.[0]) continue;
    const dims = w.dims ?? [];
    const cout = dims[0];
    const per = dims.slice(1).reduce((a, b) => a * b, 1);
    const wv = tensorValues(w);
    const wr = new Float32Array((cout - 1) * per);
    for (let i = 0; i < cout - 1; i++) for (let k = 0; k < per; k++) wr[i * per + k] = wv[i * per + k] - wv[(cout - 1) * per + k];
    const base = c.name.replace(/[^A-Za-z0-9_./+-]/g, '_');
    const input = [c.input?.[0] ?? '', `${base}.weight_rel`];
    newInits.push(makeTensor(`${base}.weight_rel`, [cout - 1, ...dims.slice(1)], wr));
    dropInits.add(c.input?.[1] ?? '');
    if (bName) {
      const bv = tensorValues(inits.get(bName) as OnnxTensor);
      const br = new Float32Array(cout - 1);
      for (let i = 0; i < cout - 1; i++) br[i] = bv[i] - bv[cout - 1];
      newInits.push(makeTensor(`${base}.bias_rel`, [cout - 1], br));
      input.push(`${base}.bias_rel`);
      dropInits.add(bName);
    }
    const reduced = `${t}__rel`;
    const pads = `${base}.pad_last_channel`;
    newInits.push(int64Tensor(pads, [8], [0, 0, 0, 0, 0, 1, 0, 0]));
    replaced.set(c, [
      { ...c, input, output: [reduced] },
      {
        op_type: 'Pad',
        name: `${c.name}/PadLastChannel`,
        input: [reduced, pads],
        output: [t],
        attribute: [attr.string('mode', 'constant')],
      },
    ]);
    changed.push(c.name);
  }
  if (changed.length === 0) return { model, convs: [] };
  const out = nodes.flatMap((n) => replaced.get(n) ?? [n]);
  const stillRead = new Set(out.flatMap((n) => n.input ?? []));
  const initializer = [...(src.initializer ?? []).filter((t) => !dropInits.has(t.name ?? '') || stillRead.has(t.name ?? '')), ...newInits];
  const names = new Set(initializer.map((t) => t.name));
  const graphInput = (src.input ?? []).filter((v) => !inits.has(v.name ?? '') || names.has(v.name));
  return { model: { ...model, graph: { ...src, node: out, initializer, input: graphInput, value_info: [] } }, convs: changed };
}
