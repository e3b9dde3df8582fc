// Loads nanohole U-Net ONNX files in onnxruntime-node (the daemon's runtime) and reports the mean
// Pearson correlation of their maps with the binary truth on fresh SCALAR-simulator samples
// (src/optics/nanohole.ts). A quick check for the model helper; `rayleigh eval --task unet` is
// the project's evaluation.
//
//   node --import tsx training/check_unet_onnx.ts [--samples 60] [--pairs 20] [--seed 3000000] [--fdtd DIR] MODEL.onnx...
// --fdtd DIR adds the FDTD set there (samples.json + intensity.npy.gz, training/fdtd/data).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import ort from 'onnxruntime-node';
import { decodeNpy } from '../src/io/npy.ts';
import { makeImage } from '../src/optics/image.ts';
import { pearson } from '../src/optics/metrics.ts';
import {
  holeMap,
  NANOHOLE,
  NANOHOLE_RADIUS,
  type NanoholeSample,
  nanoholeInput,
  PAIR_DISTANCE_RANGE,
  simulateNanohole,
} from '../src/optics/nanohole.ts';
import { Rng } from '../src/optics/random.ts';
import { numberOption } from './cli_args.ts';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number): number => numberOption(argv, name, dflt);
const count = opt('--samples', 60);
const pairs = opt('--pairs', 20);
const seed = opt('--seed', 3_000_000);
const fdtdAt = argv.indexOf('--fdtd');
const fdtdDir = fdtdAt >= 0 ? argv.splice(fdtdAt, 2)[1] : undefined;
if (argv.length === 0) {
  console.error('usage: node --import tsx training/check_unet_onnx.ts [--samples N] [--pairs N] [--seed S] MODEL.onnx...');
  process.exit(2);
}

const rng = new Rng(seed);
const samples: NanoholeSample[] = [];
for (let i = 0; i < count; i++) samples.push(simulateNanohole({}, rng));
for (let i = 0; i < pairs; i++) {
  const d = PAIR_DISTANCE_RANGE.max - ((PAIR_DISTANCE_RANGE.max - PAIR_DISTANCE_RANGE.min) * i) / Math.max(1, pairs - 1);
  samples.push(simulateNanohole({ pairDistance: d }, rng));
}

const n = NANOHOLE.inputSize;
const m = NANOHOLE.mapSize;
const fdtd: NanoholeSample[] = [];
if (fdtdDir) {
  const meta: { holes: number[][]; largestCluster: number; distance?: number }[] = JSON.parse(
    readFileSync(join(fdtdDir, 'samples.json'), 'utf8'),
  ).samples;
  const rows = decodeNpy(gunzipSync(readFileSync(join(fdtdDir, 'intensity.npy.gz'))), 'intensity.npy.gz');
  meta.forEach((s, i) => {
    const holes = s.holes.map(([x, y]) => ({ x, y }));
    fdtd.push({
      holes,
      radius: NANOHOLE_RADIUS,
      intensity: rows.data.slice(i * n * n, (i + 1) * n * n),
      truth: holeMap(holes, NANOHOLE_RADIUS),
      largestCluster: s.largestCluster,
      distance: s.distance,
    });
  });
}
const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;

async function score(session: ort.InferenceSession, set: NanoholeSample[], path: string) {
  const byCluster = new Map<number, number[]>();
  const pair: number[] = [];
  for (const s of set) {
    const out = await session.run({ intensity: new ort.Tensor('float32', nanoholeInput(s.intensity), [1, 1, n, n]) });
    const map = out.map;
    if (map.dims.join('x') !== `1x1x${m}x${m}`) throw new Error(`${path}: output dims ${map.dims.join('x')}`);
    const r = pearson(makeImage(m, m, map.data as Float32Array), makeImage(m, m, Float32Array.from(s.truth)));
    if (s.distance !== undefined) pair.push(r);
    else byCluster.set(s.largestCluster, [...(byCluster.get(s.largestCluster) ?? []), r]);
  }
  const all = [...byCluster.values()].flat();
  return {
    pearsonRandomScenes: all.length ? Number(mean(all).toFixed(4)) : null,
    randomScenes: all.length,
    pearsonByLargestCluster: Object.fromEntries(
      [...byCluster.entries()].sort((a, b) => a[0] - b[0]).map(([k, v]) => [k, `${mean(v).toFixed(3)} (${v.length})`]),
    ),
    pearsonPairs: pair.length ? Number(mean(pair).toFixed(4)) : null,
    pairs: pair.length,
  };
}

for (const path of argv) {
  const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 1 });
  const scalar = await score(session, samples, path);
  const full = fdtd.length ? await score(session, fdtd, path) : undefined;
  await session.release();
  console.log(
    JSON.stringify({
      model: path,
      data: 'scalar simulator, fresh samples',
      seed,
      ...scalar,
      ...(full ? { fdtd: { dir: fdtdDir, data: 'FDTD total intensity (Meep, 100 nm Cr)', ...full } } : {}),
    }),
  );
}
