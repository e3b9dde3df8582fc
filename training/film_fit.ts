// How well the scalar simulator reproduces the FDTD total intensity for the same holes, opaque and
// with a partially transmitting film (amplitude |t|, phase) on a grid of values. Uses the first
// holes of the FDTD set (training/fdtd/data, from the nanohole-fdtd branch).
//
//   node --import tsx training/film_fit.ts [FDTD_DIR] [SAMPLES]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { decodeNpy } from '../src/io/npy.ts';
import { makeImage } from '../src/optics/image.ts';
import { pearson } from '../src/optics/metrics.ts';
import { diffractionIntensity, type FilmTransmission, NANOHOLE_RADIUS } from '../src/optics/nanohole.ts';

const dir = process.argv[2] ?? 'training/fdtd/data';
const count = Number(process.argv[3] ?? 12);
const samples: { holes: number[][] }[] = JSON.parse(readFileSync(join(dir, 'samples.json'), 'utf8')).samples;
const tot = decodeNpy(gunzipSync(readFileSync(join(dir, 'intensity.npy.gz'))), 'intensity.npy.gz');
const n = 128 * 128;
const idx = Array.from({ length: count }, (_, k) => Math.floor((k * samples.length) / count));
const score = (film?: FilmTransmission): number => {
  let r = 0;
  for (const i of idx) {
    const holes = samples[i].holes.map(([x, y]) => ({ x, y }));
    const sim = diffractionIntensity(holes, NANOHOLE_RADIUS, film ? { film } : {});
    r += pearson(makeImage(128, 128, sim), makeImage(128, 128, tot.data.slice(i * n, (i + 1) * n))) / idx.length;
  }
  return r;
};
console.log(`opaque film: mean Pearson vs FDTD total intensity ${score().toFixed(3)} (${idx.length} samples)`);
const phases = Array.from({ length: 8 }, (_, k) => 70 + 12 * k);
console.log(`|t| \\ phase (deg): ${phases.join(' ')}`);
for (const amplitude of [0.03, 0.06, 0.09, 0.13, 0.2]) {
  console.log(`${amplitude}: ${phases.map((p) => score({ amplitude, phase: (p * Math.PI) / 180 }).toFixed(3)).join(' ')}`);
}
