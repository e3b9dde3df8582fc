/**
 * What the way a bench child (or the daemon) is started costs in peak RSS: the sources through
 * tsx or the build (dist/cli.js), with glibc's default malloc arenas or with the environment of
 * systemd/rayleigh.service. The bare-model bench child at a sensor's frame size, the four ways
 * interleaved pass by pass on the same frames. Needs a fresh build (`npm run build`).
 *
 *   npx tsx bench/process-memory.ts [--width 1456] [--height 1088] [--windows 512,640] [--passes 2] [--json FILE]
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { EngineBench } from '../src/commands/bench-host.ts';
import { hostInfo } from '../src/commands/bench-host.ts';
import { deployedProcess } from '../src/commands/bench-process.ts';

const { values } = parseArgs({
  options: {
    width: { type: 'string', default: '1456' },
    height: { type: 'string', default: '1088' },
    windows: { type: 'string', default: '512,640' },
    passes: { type: 'string', default: '2' },
    frames: { type: 'string', default: '4' },
    json: { type: 'string' },
  },
});
const root = fileURLToPath(new URL('..', import.meta.url));
const how = deployedProcess(root);
if (how.code !== 'dist') {
  process.stderr.write(`process-memory: ${how.note}\n`);
  process.exit(2);
}
const ways = [
  { code: 'source', entry: join(root, 'bin', 'rayleigh.mjs'), env: {} },
  { code: 'source', entry: join(root, 'bin', 'rayleigh.mjs'), env: how.env },
  { code: 'dist', entry: how.entry, env: {} },
  { code: 'dist', entry: how.entry, env: how.env },
];
const rows: Array<{
  window: number;
  pass: number;
  code: string;
  env: Record<string, string>;
  peakRssMB: number;
  megapixelsPerSecond: number;
}> = [];
for (let pass = 1; pass <= Number(values.passes); pass++) {
  for (const w of values.windows.split(',').map(Number)) {
    for (const way of ways) {
      const args = [
        way.entry,
        'bench',
        '--child',
        `damn@${w}`,
        '--width',
        values.width,
        '--height',
        values.height,
        '--frames',
        values.frames,
      ];
      const r = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, ...way.env } });
      if (r.status !== 0) throw new Error(`${way.code} @ ${w}: ${r.stderr.trim().split('\n').at(-1)}`);
      const b = JSON.parse(r.stdout) as EngineBench;
      rows.push({ window: w, pass, code: way.code, env: way.env, peakRssMB: b.peakRssMB, megapixelsPerSecond: b.megapixelsPerSecond });
      console.log(
        `window ${w} pass ${pass}: ${way.code} ${JSON.stringify(way.env)}: ${b.peakRssMB.toFixed(0)} MB, ${b.megapixelsPerSecond.toFixed(3)} MP/s`,
      );
    }
  }
}
const report = { measured: new Date().toISOString(), host: hostInfo(), width: Number(values.width), height: Number(values.height), rows };
if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
