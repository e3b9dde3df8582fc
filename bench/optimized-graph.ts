/**
 * The graph onnxruntime actually runs for a model on the CPU provider, node by node in run order:
 * op type (with domain), name, and for layout-changing ops which tensor they convert. Use it next to
 * bench/op-profile.ts to see where Transposes and NCHWc reorders sit between QLinearConvs.
 *
 *   npx tsx bench/optimized-graph.ts MODEL.onnx [--level all|extended|basic] [--counts]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { decodeModel } from '../src/onnx/model.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { level: { type: 'string', default: 'all' }, counts: { type: 'boolean', default: false } },
});
const model = positionals[0];
const level = values.level as 'all' | 'extended' | 'basic';
if (!model || !['all', 'extended', 'basic'].includes(level)) {
  process.stderr.write('usage: optimized-graph.ts MODEL.onnx [--level all|extended|basic] [--counts]\n');
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), 'rayleigh-optgraph-'));
try {
  const file = join(dir, 'opt.onnx');
  const s = await ort.InferenceSession.create(model, {
    graphOptimizationLevel: level,
    optimizedModelFilePath: file,
    intraOpNumThreads: 1,
    logSeverityLevel: 3,
  });
  await s.release();
  const g = decodeModel(readFileSync(file)).graph ?? {};
  const counts = new Map<string, number>();
  for (const n of g.node ?? []) {
    const op = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.op_type}` : (n.op_type ?? '');
    counts.set(op, (counts.get(op) ?? 0) + 1);
    if (!values.counts)
      process.stdout.write(
        `${op.padEnd(28)} ${(n.name ?? '').padEnd(48)} ${(n.input ?? []).filter((x) => !x.includes('__scale') && !x.includes('__zp') && !x.endsWith('_scale') && !x.endsWith('_zp')).join(',')} -> ${(n.output ?? []).join(',')}\n`,
      );
  }
  process.stdout.write(`${[...counts].map(([k, v]) => `${k}:${v}`).join(' ')}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
