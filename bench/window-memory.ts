/**
 * Peak activation memory per window pixel of each shipped model, the figure the tile planner
 * sizes windows with (`activationBytesPerPixel` in models-int8/manifest.json, budget
 * `inference.tile.memoryMB`). Each (model, window) runs in a fresh child process: peak RSS after
 * one run minus peak RSS after loading the session, over the window's pixels.
 *
 *   npx tsx bench/window-memory.ts [--windows 256,384,512] [--json FILE]
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { hostInfo } from '../src/commands/bench-host.ts';
import { readManifest } from '../src/inference/manifest.ts';

const CHILD = `
const ort = require(process.argv[1]);
const { readFileSync } = require('node:fs');
(async () => {
  const [file, side] = [process.argv[2], Number(process.argv[3])];
  const s = await ort.InferenceSession.create(readFileSync(file), { intraOpNumThreads: 2, interOpNumThreads: 1, graphOptimizationLevel: 'all', enableCpuMemArena: false, enableMemPattern: false });
  const warm = new Float32Array(64 * 64).fill(1 / 2500);
  (await s.run({ input: new ort.Tensor('float32', warm, [1, 1, 64, 64]) })).output.dispose();
  const base = process.resourceUsage().maxRSS * 1024;
  const data = new Float32Array(side * side);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 2654435761) % 1000) / 1000 / 1250;
  (await s.run({ input: new ort.Tensor('float32', data, [1, 1, side, side]) })).output.dispose();
  const peak = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(JSON.stringify({ base, peak }));
})();
`;

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const windows = (arg('--windows') ?? '256,384,512').split(',').map(Number);
const modelsDir = fileURLToPath(new URL('../models-int8', import.meta.url));
const ortPath = fileURLToPath(new URL('../node_modules/onnxruntime-node/dist/index.js', import.meta.url));
const manifest = await readManifest(modelsDir);
const rows: Array<{ model: string; window: number; baseMB: number; peakMB: number; bytesPerPixel: number }> = [];
for (const m of manifest.models) {
  for (const w of windows) {
    const r = spawnSync(process.execPath, ['-e', CHILD, ortPath, `${modelsDir}/${m.file}`, String(w)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${m.id} @ ${w}: ${r.stderr.trim().split('\n').at(-1)}`);
    const { base, peak } = JSON.parse(r.stdout) as { base: number; peak: number };
    rows.push({ model: m.id, window: w, baseMB: base / 2 ** 20, peakMB: peak / 2 ** 20, bytesPerPixel: (peak - base) / (w * w) });
  }
}
const report = { measured: new Date().toISOString(), host: hostInfo(), rows };
const out = arg('--json');
if (out) writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
for (const r of rows)
  console.log(
    `${r.model} window ${r.window}²: base ${r.baseMB.toFixed(0)} MB, peak ${r.peakMB.toFixed(0)} MB, ${r.bytesPerPixel.toFixed(0)} B/px`,
  );
