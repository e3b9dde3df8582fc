/**
 * Where an ONNX model spends its time, per operator type, from onnxruntime's own profiler.
 *
 *   npx tsx bench/op-profile.ts models-int8/damn-int8.onnx [--size 256] [--runs 12] [--threads 2] [--nodes] [--stat min|mean]
 *
 * Use it when INT8 buys less speed than it should on a board: it names the ops that run in float
 * or that onnxruntime implements badly for this graph (a channel-axis Softmax on NCHW once took
 * 45% of the DAMN model's time through transposes). Kernel times only; one warm-up run is dropped.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';

interface ProfileEvent {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string };
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    size: { type: 'string', default: '256' },
    runs: { type: 'string', default: '12' },
    threads: { type: 'string', default: '2' },
    nodes: { type: 'boolean', default: false },
    stat: { type: 'string', default: 'min' },
  },
});
const model = positionals[0];
const size = Number(values.size);
const runs = Number(values.runs);
const threads = Number(values.threads);
if (!model || !(size >= 8 && size % 8 === 0) || !(runs >= 1) || !(threads >= 1) || !['min', 'mean'].includes(values.stat ?? '')) {
  process.stderr.write('usage: op-profile.ts MODEL.onnx [--size N (multiple of 8)] [--runs N] [--threads N] [--nodes] [--stat min|mean]\n');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'rayleigh-profile-'));
try {
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    enableProfiling: true,
    profileFilePrefix: join(dir, 'p'),
  });
  // a contract-normalised frame: unit sum × H·W/2500, so pixels average 1/2500
  const x = new Float32Array(size * size).map(() => (2 * Math.random()) / 2500);
  const input = new ort.Tensor('float32', x, [1, 1, size, size]);
  const name = session.inputNames[0];
  await session.run({ [name]: input });
  for (let i = 0; i < runs; i++) await session.run({ [name]: input });
  session.endProfiling();
  const file = readdirSync(dir).find((f) => f.endsWith('.json'));
  if (!file) throw new Error('onnxruntime wrote no profile');
  const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as ProfileEvent[];
  const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  // the first run's kernels are the warm-up
  const perRun = kernels.length / (runs + 1);
  // Each node's time is its minimum (or mean) over the timed runs: on a shared machine the minimum
  // is the least disturbed estimate. Then summed per operator type, or listed per node (--nodes,
  // names as in onnxruntime's optimised graph).
  const perNode = new Map<string, { op: string; durs: number[] }>();
  for (const e of kernels.slice(perRun)) {
    const node = e.name.replace(/_kernel_time$/, '');
    const entry = perNode.get(node) ?? { op: e.args?.op_name ?? '?', durs: [] };
    entry.durs.push(e.dur);
    perNode.set(node, entry);
  }
  const byOp = new Map<string, number>();
  for (const [node, { op, durs }] of perNode) {
    const t = values.stat === 'min' ? Math.min(...durs) : durs.reduce((a, b) => a + b, 0) / durs.length;
    const key = values.nodes ? `${op} ${node}` : op;
    byOp.set(key, (byOp.get(key) ?? 0) + t);
  }
  const total = [...byOp.values()].reduce((a, b) => a + b, 0);
  process.stdout.write(
    `${model} ${size}x${size}, ${threads} threads: ${(total / 1000).toFixed(1)} ms/frame in kernels (${values.stat} over ${runs} runs)\n`,
  );
  for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1])) {
    process.stdout.write(
      `  ${op.padEnd(values.nodes ? 60 : 22)} ${(us / 1000).toFixed(2).padStart(8)} ms  ${((100 * us) / total).toFixed(1).padStart(5)} %\n`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
