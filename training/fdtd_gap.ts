// Where a nanohole model's FDTD score goes: its mean Pearson (map vs binary truth) on the FDTD frames
// of DIR, next to the fast simulator's frames for the SAME holes — scalar or vector holes
// (src/optics/nanohole.ts HoleDipoles, η = 0), opaque or with a film. A simulator variant that
// reproduces the FDTD score is one that captures what the model trips on. Run it on FDTD samples
// made for fitting (training/fdtd/film-fit-data), not on the test set.
//
//   node --import tsx training/fdtd_gap.ts [--film-amplitude 0.09] [--film-phase 94] DIR MODEL.onnx...
import ort from 'onnxruntime-node';
import { FDTD_SCATTERED, loadFdtdSet, type UnetSample } from '../src/eval/unet.ts';
import { makeImage } from '../src/optics/image.ts';
import { pearson } from '../src/optics/metrics.ts';
import { diffractionIntensity, holeMap, MAGNETIC_DIPOLES, NANOHOLE, NANOHOLE_RADIUS, nanoholeInput } from '../src/optics/nanohole.ts';
import { numberOption } from './cli_args.ts';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number): number => numberOption(argv, name, dflt);
// default: the best grid point of the fit on the independent FDTD samples (training/logs/unet-film-fit-independent.txt)
const film = { amplitude: opt('--film-amplitude', 0.09), phase: (opt('--film-phase', 94) * Math.PI) / 180 };
const [dir, ...models] = argv;
if (!dir || models.length === 0) {
  console.error('usage: node --import tsx training/fdtd_gap.ts [--film-amplitude A] [--film-phase DEG] DIR MODEL.onnx...');
  process.exit(2);
}
const total = await loadFdtdSet(dir);
const scattered = await loadFdtdSet(dir, FDTD_SCATTERED);
if (!total) throw new Error(`${dir}: no FDTD set (samples.json + intensity.npy.gz)`);

const vector = MAGNETIC_DIPOLES;
const variants: [string, (s: UnetSample, i: number) => Float32Array | null][] = [
  ['FDTD recorded (total)', (_s, i) => total.samples[i].intensity],
  ['scalar + film', (s) => diffractionIntensity(s.holes, NANOHOLE_RADIUS, { film })],
  ['vector + film', (s) => diffractionIntensity(s.holes, NANOHOLE_RADIUS, { film, dipoles: vector })],
  ['FDTD scattered only', (_s, i) => scattered?.samples[i].intensity ?? null],
  ['scalar opaque', (s) => diffractionIntensity(s.holes, NANOHOLE_RADIUS)],
  ['vector opaque', (s) => diffractionIntensity(s.holes, NANOHOLE_RADIUS, { dipoles: vector })],
];
const n = NANOHOLE.inputSize;
const m = NANOHOLE.mapSize;
// one truth map per sample, shared by every variant and model
const truths = total.samples.map((s) => makeImage(m, m, Float32Array.from(holeMap(s.holes, NANOHOLE_RADIUS))));
const mean = (v: number[]): number | null => (v.length ? Number((v.reduce((a, b) => a + b, 0) / v.length).toFixed(4)) : null);
for (const path of models) {
  const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 1 });
  const rows: Record<string, { clusters: number | null; pairs: number | null }> = {};
  for (const [name, frame] of variants) {
    const byKind: Record<'cluster' | 'pair', number[]> = { cluster: [], pair: [] };
    for (const [i, s] of total.samples.entries()) {
      const intensity = frame(s, i);
      if (!intensity) continue;
      const out = await session.run({ intensity: new ort.Tensor('float32', nanoholeInput(intensity), [1, 1, n, n]) });
      const map = makeImage(m, m, out.map.data as Float32Array);
      byKind[s.kind].push(pearson(map, truths[i]));
    }
    rows[name] = { clusters: mean(byKind.cluster), pairs: mean(byKind.pair) };
  }
  await session.release();
  console.log(JSON.stringify({ model: path, dir, samples: total.samples.length, film: { amplitude: film.amplitude, phaseDegrees: (film.phase * 180) / Math.PI }, meanPearson: rows }));
}
