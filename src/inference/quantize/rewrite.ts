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
    if (attrInt(n, 'group', 1) !== 1 || attrString(n, 'auto_pad') !== 'NOTSET') continue;
    const w = inits.get(n.input?.[1] ?? '');
    if (!w || (w.dims ?? []).length !== 4) continue;
    const b = n.input?.[2];
    if (b && !inits.has(b)) continue;
    const key = `${n.input?.[0]}|${geometryKey(n)}|${(w.dims ?? []).slice(1).join('x')}|${floatNodes.has(n.name) ? 'float' : 'int8'}`;
    byKey.set(key, [...(byKey.get(key) ?? []), n]);
  }
  return [...byKey.values()].filter((group) => group.length > 1);
}

function attrString(n: OnnxNode, name: string): string {
  const s = n.attribute?.find((a) => a.name === name)?.s;
  return s ? new TextDecoder().decode(s) : 'NOTSET';
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
