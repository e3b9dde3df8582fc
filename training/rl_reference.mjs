// Richardson–Lucy (the project's own TS implementation, exact PSF) on frames dumped by
// rl_reference.py; prints per-condition MAE of unit-sum maps (fine grid and camera-binned) as JSON.
// Usage: node training/rl_reference.mjs DUMP_DIR '{"default":"gauss:2",...}' N H W SCALE
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { register } from 'tsx/esm/api';

register();
const { RichardsonLucy } = await import('../src/optics/richardson-lucy.ts');
const [dir, specsJson, nText, hText, wText, sText] = process.argv.slice(2);
const [n, h, w, s] = [nText, hText, wText, sText].map(Number);
const specs = JSON.parse(specsJson);
const f32 = (p) => {
  const b = readFileSync(p);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const out = {};
for (const [name, spec] of Object.entries(specs)) {
  const frames = f32(join(dir, `${name}_frames.bin`));
  const truths = f32(join(dir, `${name}_truth.bin`));
  const rl = new RichardsonLucy(spec, { scale: s });
  const fineN = h * s * w * s;
  let fine = 0;
  let binned = 0;
  for (let k = 0; k < n; k++) {
    const frame = { width: w, height: h, data: frames.subarray(k * h * w, (k + 1) * h * w) };
    const p = (await rl.reconstruct(frame)).data;
    const t = truths.subarray(k * fineN, (k + 1) * fineN);
    let ts = 0;
    for (let i = 0; i < fineN; i++) ts += t[i];
    const pb = new Float64Array(h * w);
    const tb = new Float64Array(h * w);
    let e = 0;
    for (let y = 0; y < h * s; y++)
      for (let x = 0; x < w * s; x++) {
        const i = y * w * s + x;
        const tv = t[i] / ts;
        e += Math.abs(p[i] - tv);
        const j = ((y / s) | 0) * w + ((x / s) | 0);
        pb[j] += p[i];
        tb[j] += tv;
      }
    let eb = 0;
    for (let j = 0; j < h * w; j++) eb += Math.abs(pb[j] - tb[j]);
    fine += e / fineN;
    binned += eb / (h * w);
  }
  out[name] = { fine_mae: fine / n, binned_mae: binned / n };
}
console.log(JSON.stringify(out));
