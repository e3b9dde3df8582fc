/**
 * INT8 against FP32, side by side in one process: the models take turns on the same untiled frame,
 * round after round, with the session options the daemon's worker uses. On a shared machine the
 * rounds interleave whatever else runs, so the minimum and the median per model are reported, and
 * the ratio of each to the first model's. The CPU model and flags go into the result.
 *
 *   npx tsx bench/int8-speed.ts models-int8/damn-fp32.onnx,models-int8/damn-int8.onnx \
 *     [--width 1456] [--height 1088] [--rounds 12] [--threads 2] [--out bench/results/int8-speed.json]
 *
 * Timing, so not a test.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    width: { type: 'string', default: '1456' },
    height: { type: 'string', default: '1088' },
    rounds: { type: 'string', default: '12' },
    threads: { type: 'string', default: '2' },
    out: { type: 'string' },
  },
});
const files = (positionals[0] ?? '').split(',').filter(Boolean);
const width = Number(values.width);
const height = Number(values.height);
const rounds = Number(values.rounds);
const threads = Number(values.threads);
if (files.length < 2 || !(width % 8 === 0 && width > 0) || !(height % 8 === 0 && height > 0) || !(rounds >= 1) || !(threads >= 1)) {
  process.stderr.write(
    'usage: int8-speed.ts BASE.onnx,OTHER.onnx[,…] [--width N] [--height N] (multiples of 8) [--rounds N] [--threads N] [--out FILE]\n',
  );
  process.exit(2);
}

function cpuFlags(): { model: string; flags: string[] } {
  let text = '';
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    // not Linux: the model name from Node is all there is
  }
  const line = text.split('\n').find((l) => /^(flags|Features)\s*:/.test(l));
  return {
    model: cpus()[0]?.model ?? 'unknown',
    flags: line
      ? line
          .replace(/^[^:]*:\s*/, '')
          .split(/\s+/)
          .filter(Boolean)
      : [],
  };
}

const opts: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
  logSeverityLevel: 3,
};
const sessions = await Promise.all(files.map((f) => ort.InferenceSession.create(f, opts)));
// a contract-normalised frame (unit sum × H·W/2500) with a few bright spots, fixed seed
let seed = 12345;
const rand = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};
const x = new Float32Array(width * height);
for (let i = 0; i < x.length; i++) x[i] = 10 + rand() * 4;
for (let k = 0; k < 400; k++) x[Math.floor(rand() * x.length)] += 2000;
let sum = 0;
for (const v of x) sum += v;
for (let i = 0; i < x.length; i++) x[i] *= (width * height) / 2500 / sum;
const feed = (s: ort.InferenceSession) => ({ [s.inputNames[0]]: new ort.Tensor('float32', x, [1, 1, height, width]) });

for (const s of sessions) await s.run(feed(s)); // warm-up: arenas, kernel choice
const times: number[][] = sessions.map(() => []);
// CPU time of this process per run: on a machine shared with other jobs, wall time grows with their
// load while CPU time stays close to the work done (exactly so with --threads 1; with more threads
// onnxruntime's spinning workers add to it)
const cpuTimes: number[][] = sessions.map(() => []);
for (let r = 0; r < rounds; r++) {
  for (const [k, s] of sessions.entries()) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const out = await s.run(feed(s));
    times[k].push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpuTimes[k].push((c.user + c.system) / 1000);
    for (const v of Object.values(out)) v.dispose();
  }
}
const stat = (t: number[]) => {
  const v = [...t].sort((a, b) => a - b);
  return { minMs: v[0], medianMs: v[Math.floor(v.length / 2)] };
};
const mp = (width * height) / 1e6;
const base = stat(times[0]);
const baseCpu = stat(cpuTimes[0]);
// the base and each model ran back to back in every round, so a round's ratio sees nearly the same
// load on both: the median of those ratios is the steadiest figure on a shared machine
const roundRatio = (k: number, t: number[][]) => {
  const r = t[0].map((b, i) => b / t[k][i]).sort((a, b) => a - b);
  return r[Math.floor(r.length / 2)];
};
const results = files.map((file, k) => {
  const s = stat(times[k]);
  const c = stat(cpuTimes[k]);
  return {
    file,
    ...s,
    cpuMinMs: c.minMs,
    cpuMedianMs: c.medianMs,
    cpuSpeedupAtMin: baseCpu.minMs / c.minMs,
    cpuSpeedupAtMedian: baseCpu.medianMs / c.medianMs,
    speedupMedianOfRounds: roundRatio(k, times),
    cpuSpeedupMedianOfRounds: roundRatio(k, cpuTimes),
    mpPerSecondAtMin: mp / (s.minMs / 1000),
    mpPerSecondAtMedian: mp / (s.medianMs / 1000),
    speedupAtMin: base.minMs / s.minMs,
    speedupAtMedian: base.medianMs / s.medianMs,
  };
});
const cpu = cpuFlags();
const report = {
  command: `npx tsx bench/int8-speed.ts ${files.join(',')} --width ${width} --height ${height} --rounds ${rounds} --threads ${threads}`,
  date: new Date().toISOString(),
  cpu,
  // other jobs on the machine: the minimum is the least disturbed figure
  loadAverage: loadavg(),
  onnxruntime: ort.env.versions.common,
  node: process.version,
  frame: { width, height, tiled: false },
  threads,
  rounds,
  results,
};
for (const r of results) {
  process.stdout.write(
    `${r.file}: min ${r.minMs.toFixed(0)} ms (${r.mpPerSecondAtMin.toFixed(2)} MP/s, ×${r.speedupAtMin.toFixed(2)}), ` +
      `median ${r.medianMs.toFixed(0)} ms (${r.mpPerSecondAtMedian.toFixed(2)} MP/s, ×${r.speedupAtMedian.toFixed(2)}); ` +
      `CPU time min ${r.cpuMinMs.toFixed(0)} ms (×${r.cpuSpeedupAtMin.toFixed(2)}), median ${r.cpuMedianMs.toFixed(0)} ms (×${r.cpuSpeedupAtMedian.toFixed(2)}); ` +
      `median of per-round ratios ×${r.speedupMedianOfRounds.toFixed(2)} wall, ×${r.cpuSpeedupMedianOfRounds.toFixed(2)} CPU\n`,
  );
}
process.stdout.write(
  `${cpu.model}; VNNI: ${cpu.flags.includes('avx512_vnni') || cpu.flags.includes('avx_vnni') ? 'yes' : 'no'}; load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}\n`,
);
if (values.out) writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
