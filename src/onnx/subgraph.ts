import type { OnnxModel, OnnxNode, OnnxTensor, OnnxValueInfo } from './model.ts';

/**
 * The part of a graph that computes `outputs` from `inputs`: every node on a path between them,
 * the initializers those nodes read, and the given value infos as the new graph's inputs and
 * outputs. Node order is the original's (ONNX requires graphs in topological order, so it stays
 * one). Throws when an output needs a tensor that is neither an input, an initializer nor made
 * by a node. Inputs the part does not read are left out of it.
 */
export function extractSubgraph(model: OnnxModel, inputs: OnnxValueInfo[], outputs: OnnxValueInfo[], name?: string): OnnxModel {
  const g = model.graph;
  if (!g) throw new Error('model has no graph');
  const nodes = g.node ?? [];
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const o of n.output ?? []) if (o) producer.set(o, i);
  });
  const initializers = new Map<string, OnnxTensor>();
  for (const t of g.initializer ?? []) if (t.name) initializers.set(t.name, t);
  const stop = new Set(inputs.map((v) => v.name ?? ''));
  const keep = new Set<number>();
  const usedInit = new Set<string>();
  const pending = outputs.map((v) => v.name ?? '');
  const seen = new Set<string>();
  while (pending.length > 0) {
    const t = pending.pop() as string;
    if (t === '' || seen.has(t)) continue;
    seen.add(t);
    if (stop.has(t)) continue;
    if (initializers.has(t)) {
      usedInit.add(t);
      continue;
    }
    const p = producer.get(t);
    if (p === undefined) throw new Error(`tensor ${t} is needed but is not an input of the part, an initializer or a node's output`);
    if (keep.has(p)) continue;
    keep.add(p);
    pending.push(...(nodes[p].input ?? []));
  }
  const kept: OnnxNode[] = nodes.filter((_, i) => keep.has(i));
  const read = new Set(kept.flatMap((n) => n.input ?? []));
  for (const o of outputs) read.add(o.name ?? '');
  return {
    ir_version: model.ir_version,
    opset_import: model.opset_import,
    producer_name: model.producer_name,
    producer_version: model.producer_version,
    graph: {
      name: name ?? `${g.name ?? 'graph'}-part`,
      node: kept,
      initializer: (g.initializer ?? []).filter((t) => t.name && usedInit.has(t.name)),
      input: inputs.filter((v) => read.has(v.name ?? '')),
      output: outputs,
    },
  };
}
