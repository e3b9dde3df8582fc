// The binary truth maps (src/optics/nanohole.ts holeMap, the eval's definition) of an FDTD set's
// samples, for fine-tuning in Python (train_unet.py --fdtd): float32 .npy of shape (S, 128·128),
// row s = sample s of DIR/samples.json. Never run it on the test set to train on it.
//
//   node --import tsx training/fdtd_truth.ts DIR OUT.npy
import { writeFile } from 'node:fs/promises';
import { loadFdtdSet } from '../src/eval/unet.ts';
import { encodeNpy } from '../src/io/npy.ts';
import { makeImage } from '../src/optics/image.ts';
import { holeMap, NANOHOLE, NANOHOLE_RADIUS } from '../src/optics/nanohole.ts';

const [dir, out] = process.argv.slice(2);
if (!dir || !out) {
  console.error('usage: node --import tsx training/fdtd_truth.ts DIR OUT.npy');
  process.exit(2);
}
const set = await loadFdtdSet(dir);
if (!set) throw new Error(`${dir}: no FDTD set (samples.json + intensity.npy.gz)`);
const m = NANOHOLE.mapSize * NANOHOLE.mapSize;
const data = new Float32Array(set.samples.length * m);
set.samples.forEach((s, i) => data.set(holeMap(s.holes, NANOHOLE_RADIUS), i * m));
await writeFile(out, encodeNpy(makeImage(m, set.samples.length, data)));
console.log(JSON.stringify({ dir, samples: set.samples.length, out }));
