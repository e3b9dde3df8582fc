/**
 * The WASM fallback (onnxruntime-web) next to the native runtime (onnxruntime-node, CPU), in one
 * process and one run: throughput of the bare model on one 256² (or --size) window, and how far
 * their outputs differ on seeded frames.
 *
 *   npx tsx bench/wasm-vs-native.ts [--size 256] [--runs 10] [--threads 2] [--seeds 8] [--json bench/results/wasm-vs-native.json]
 *
 * Runs alternate native, wasm, native, wasm… so a busy neighbour slows both alike; read the
 * ratio, not the absolute figures. MP/s counts input (camera) pixels, as `rayleigh bench` does.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { normaliseInput } from '../src/inference/normalise.ts';
import { type ModelSession, openModelSession } from '../src/inference/runtime/index.ts';
import { relativeL2, spotFrame } from '../tests/unit/inference/helpers.ts';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '256' },
    runs: { type: 'string', default: '10' },
    threads: { type: 'string', default: '2' },
    seeds: { type: 'string', default: '8' },
    json: { type: 'string' },
  },
});
const size = Number(values.size);
const runs = Number(values.runs);
const threads = Number(values.threads);
const seeds = Number(values.seeds);
if (!(size >= 8 && size % 8 === 0) || !(runs >= 1) || !(threads >= 1) || !(seeds >= 0)) {
  process.stderr.write('usage: wasm-vs-native.ts [--size N (multiple of 8)] [--runs N] [--threads N] [--seeds N] [--json FILE]\n');
  process.exit(2);
}

interface Agreement {
  frames: number;
  sizes: number[];
  /** largest |native − wasm| over all pixels and frames, and the same over the frame's peak */
  maxAbs: number;
  maxAbsOverPeak: number;
  maxRelL2: number;
  /**
   * frames with any pixel off by more than 1e-5 of the peak (beyond float rounding of a sum of
   * ~60k products), and the largest fraction of such pixels in one frame
   */
  framesWithPixelsOff: number;
  maxPixelsOffFraction: number;
  /** INT8 only: the smallest native INT8-vs-FP32 relative L2 on the same frames, for scale */
  minQuantisationRelL2?: number;
}

const io = { inputName: 'input', outputName: 'output', threads };
const model = (file: string) => new Uint8Array(readFileSync(new URL(`../models-int8/${file}`, import.meta.url)));

async function speed(a: ModelSession, b: ModelSession): Promise<[number, number]> {
  const x = normaliseInput(spotFrame(size, size, 42, (size * size) / 200)).data;
  await a.run(new Float32Array(x), 1, size, size);
  await b.run(new Float32Array(x), 1, size, size);
  const ms = [0, 0];
  for (let i = 0; i < runs; i++) {
    for (const [k, s] of [a, b].entries()) {
      const t = performance.now();
      await s.run(new Float32Array(x), 1, size, size);
      ms[k] += performance.now() - t;
    }
  }
  return [(runs * size * size) / 1e3 / ms[0], (runs * size * size) / 1e3 / ms[1]];
}

async function agreement(native: ModelSession, wasm: ModelSession, fp32?: ModelSession): Promise<Agreement> {
  const sizes = [64, 128, 256];
  const r: Agreement = { frames: 0, sizes, maxAbs: 0, maxAbsOverPeak: 0, maxRelL2: 0, framesWithPixelsOff: 0, maxPixelsOffFraction: 0 };
  if (fp32) r.minQuantisationRelL2 = Number.POSITIVE_INFINITY;
  for (const side of sizes) {
    for (let seed = 1; seed <= seeds; seed++) {
      const x = normaliseInput(spotFrame(side, side, seed, (side * side) / 200)).data;
      const a = await native.run(new Float32Array(x), 1, side, side);
      const b = await wasm.run(new Float32Array(x), 1, side, side);
      let peak = 0;
      let maxAbs = 0;
      for (let i = 0; i < a.length; i++) {
        peak = Math.max(peak, Math.abs(a[i]));
        maxAbs = Math.max(maxAbs, Math.abs(a[i] - b[i]));
      }
      let off = 0;
      for (let i = 0; i < a.length; i++) if (Math.abs(a[i] - b[i]) > 1e-5 * peak) off++;
      r.frames++;
      r.maxAbs = Math.max(r.maxAbs, maxAbs);
      r.maxAbsOverPeak = Math.max(r.maxAbsOverPeak, maxAbs / peak);
      r.maxRelL2 = Math.max(r.maxRelL2, relativeL2(a, b));
      if (off) r.framesWithPixelsOff++;
      r.maxPixelsOffFraction = Math.max(r.maxPixelsOffFraction, off / a.length);
      if (fp32 && r.minQuantisationRelL2 !== undefined) {
        const f = await fp32.run(new Float32Array(x), 1, side, side);
        r.minQuantisationRelL2 = Math.min(r.minQuantisationRelL2, relativeL2(f, a));
      }
    }
  }
  return r;
}

const results: Record<string, unknown> = {};
const fp32Native = await openModelSession(model('damn-fp32.onnx'), { ...io, provider: 'cpu' });
for (const precision of ['int8', 'fp32'] as const) {
  const bytes = model(`damn-${precision}.onnx`);
  const native = precision === 'fp32' ? fp32Native : await openModelSession(bytes, { ...io, provider: 'cpu' });
  const wasm = await openModelSession(bytes, { ...io, provider: 'wasm' });
  const [nativeMPs, wasmMPs] = await speed(native, wasm);
  const agree = seeds > 0 ? await agreement(native, wasm, precision === 'int8' ? fp32Native : undefined) : undefined;
  results[precision] = {
    native: { engine: native.report.engine, threads: native.report.threads, megapixelsPerSecond: nativeMPs },
    wasm: { engine: wasm.report.engine, threads: wasm.report.threads, megapixelsPerSecond: wasmMPs },
    wasmOverNative: wasmMPs / nativeMPs,
    agreement: agree,
  };
  process.stdout.write(
    `${precision} ${size}²: native ${nativeMPs.toFixed(3)} MP/s, wasm ${wasmMPs.toFixed(3)} MP/s (${wasm.report.threads} thread${wasm.report.threads === 1 ? '' : 's'}) → wasm/native ${(wasmMPs / nativeMPs).toFixed(2)}\n`,
  );
  if (agree) process.stdout.write(`  agreement: ${JSON.stringify(agree)}\n`);
  if (native !== fp32Native) await native.release();
  await wasm.release();
}
await fp32Native.release();

const report = {
  command: `npx tsx bench/wasm-vs-native.ts ${process.argv.slice(2).join(' ')}`.trim(),
  size,
  runs,
  threads,
  seeds,
  results,
};
if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
