/**
 * Peak activation memory per frame pixel of each part of a banded model (src/inference/band-plan.ts),
 * the figures the band planner shares `inference.tile.memoryMB` by (`bandBytesPerPixel` in
 * models-int8/manifest.json; without them it uses the graph's own estimate). Each part runs alone in
 * a fresh child process, with the engine worker's session options (arena on, no spinning), on a
 * band of ROWS frame rows × WIDTH: peak RSS after three runs minus peak RSS after loading, over the
 * band's frame pixels.
 *
 *   npx tsx bench/band-memory.ts [--rows 136] [--width 1456] [--json FILE] [--write-manifest]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { hostInfo } from '../src/commands/bench-host.ts';
import { analyseBands } from '../src/inference/band-plan.ts';
import { readManifest } from '../src/inference/manifest.ts';
import { decodeModel, encodeModel } from '../src/onnx/model.ts';

const CHILD = `
const ort = require(process.argv[1]);
const { readFileSync } = require('node:fs');
(async () => {
  const [file, spec] = [process.argv[2], JSON.parse(process.argv[3])];
  const s = await ort.InferenceSession.create(readFileSync(file), { intraOpNumThreads: 2, interOpNumThreads: 1,
    graphOptimizationLevel: 'all', enableCpuMemArena: true, enableMemPattern: false,
    extra: { session: { intra_op: { allow_spinning: '0' } } } });
  const base = process.resourceUsage().maxRSS * 1024;
  const feeds = {};
  for (const t of spec) {
    const n = t.dims.reduce((a, b) => a * b, 1);
    const data = t.uint8 ? new Uint8Array(n).map((_, i) => (i * 2654435761) % 251) : new Float32Array(n).map((_, i) => ((i * 2654435761) % 1000) / 1e6);
    feeds[t.name] = new ort.Tensor(t.uint8 ? 'uint8' : 'float32', data, t.dims);
  }
  for (let i = 0; i < 3; i++) await s.run(feeds);
  process.stdout.write(JSON.stringify({ base, peak: process.resourceUsage().maxRSS * 1024 }));
})();
`;

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '136' },
    width: { type: 'string', default: '1456' },
    json: { type: 'string' },
    'write-manifest': { type: 'boolean', default: false },
  },
});
const rows = Number(values.rows);
const width = Number(values.width);
const modelsDir = fileURLToPath(new URL('../models-int8', import.meta.url));
const ortPath = fileURLToPath(new URL('../node_modules/onnxruntime-node/dist/index.js', import.meta.url));
const manifest = await readManifest(modelsDir);
const tmp = mkdtempSync(join(tmpdir(), 'band-memory-'));
const results: Array<{ model: string; bytesPerPixel: number[]; estimate: number[] }> = [];
try {
  for (const m of manifest.models.filter((e) => e.task === 'damn')) {
    const g = analyseBands(decodeModel(readFileSync(join(modelsDir, m.file))));
    const measured: number[] = [];
    for (const [k, part] of g.parts.entries()) {
      const file = join(tmp, `${m.id}-${k}.onnx`);
      writeFileSync(file, encodeModel(part.model));
      const spec = part.inputs.map((name) => {
        const t = g.tensors[name];
        return { name, uint8: t.uint8, dims: [1, t.channels, rows / t.stride, width / t.stride] };
      });
      const r = spawnSync(process.execPath, ['-e', CHILD, ortPath, file, JSON.stringify(spec)], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${m.id} part ${k}: ${r.stderr.trim().split('\n').at(-1)}`);
      const { base, peak } = JSON.parse(r.stdout) as { base: number; peak: number };
      measured.push(Math.round((peak - base) / (rows * width)));
    }
    results.push({ model: m.id, bytesPerPixel: measured, estimate: g.parts.map((p) => Math.round(p.bytesPerPixel)) });
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
const report = { measured: new Date().toISOString(), host: hostInfo(), rows, width, results };
const out = values.json;
if (out) writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
for (const r of results) console.log(`${r.model}: measured ${r.bytesPerPixel.join(' ')} B/px; estimated ${r.estimate.join(' ')}`);
if (values['write-manifest']) {
  const path = join(modelsDir, 'manifest.json');
  const raw = JSON.parse(readFileSync(path, 'utf8')) as { models: Array<{ id: string; bandBytesPerPixel?: number[] }> };
  for (const e of raw.models) {
    const r = results.find((x) => x.model === e.id);
    if (r) e.bandBytesPerPixel = r.bytesPerPixel;
  }
  writeFileSync(path, `${JSON.stringify(raw, null, 2)}\n`);
}
