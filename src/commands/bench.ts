import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Command, Option } from 'commander';
import { loadSettings } from '../config/load.ts';
import { UserError } from '../errors.ts';
import { DAMN_CONDITIONS, TEST_SEED_BASE } from '../eval/conditions.ts';
import { drawTestSample } from '../eval/damn.ts';
import { readManifest } from '../inference/manifest.ts';
import { createReconstructor } from '../inference/registry.ts';
import { createLogger } from '../log.ts';

export interface EngineBench {
  engine: string;
  provider: string;
  size: number;
  frames: number;
  megapixelsPerSecond: number;
  framesPerSecond: number;
  latencyMs: { p50: number; p99: number; mean: number };
  peakRssMB: number;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

/** One engine in this process: warm-up, then `frames` sequential frames; latency per frame. */
async function benchEngine(engine: string, size: number, frames: number, config?: string): Promise<EngineBench> {
  const settings = loadSettings(config);
  const r = await createReconstructor(engine, settings, createLogger('warn'));
  try {
    const cond = DAMN_CONDITIONS[0];
    const inputs = Array.from({ length: Math.min(frames, 8) }, (_, i) => drawTestSample(cond, size, 4, TEST_SEED_BASE + 900_000 + i).frame);
    await r.reconstruct(inputs[0]);
    const lat: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < frames; i++) {
      const t = performance.now();
      await r.reconstruct(inputs[i % inputs.length]);
      lat.push(performance.now() - t);
    }
    const seconds = (performance.now() - t0) / 1000;
    lat.sort((a, b) => a - b);
    return {
      engine,
      provider: r.provider,
      size,
      frames,
      megapixelsPerSecond: (frames * size * size) / 1e6 / seconds,
      framesPerSecond: frames / seconds,
      latencyMs: { p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), mean: lat.reduce((a, b) => a + b, 0) / lat.length },
      peakRssMB: process.resourceUsage().maxRSS / 1024,
    };
  } finally {
    await r.close();
  }
}

/** Each engine in its own child process so peak RSS belongs to that engine alone. */
function runChild(engine: string, size: number, frames: number, config?: string): Promise<EngineBench> {
  const bin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'rayleigh.mjs');
  const args = [bin, 'bench', '--child', engine, '--size', String(size), '--frames', String(frames)];
  if (config) args.push('--config', config);
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    p.on('exit', (code) => {
      if (code !== 0) return reject(new UserError(`bench of ${engine} failed: ${err.trim().split('\n').at(-1) ?? code}`));
      try {
        resolve(JSON.parse(out) as EngineBench);
      } catch {
        reject(new Error(`bench of ${engine}: unreadable child output`));
      }
    });
  });
}

interface BenchCli {
  json?: boolean;
  frames: string;
  rlFrames: string;
  size: string;
  engines?: string;
  child?: string;
  out?: string;
  config?: string;
}

export function register(program: Command): void {
  program
    .command('bench')
    .description('throughput, latency and peak RSS: INT8 vs FP32 model vs Richardson–Lucy on the same frames, in one run')
    .option('--json', 'machine-readable output')
    .option('--frames <n>', 'frames per model engine', '200')
    .option('--rl-frames <n>', 'frames for Richardson–Lucy (slow)', '10')
    .option('--size <px>', 'square frame edge in camera pixels', '64')
    .option('--engines <ids>', 'comma-separated (default: damn, damn-fp32 if shipped, rl)')
    .option('--out <file>', 'also write the JSON report here')
    .option('--config <file>', 'settings file (inference section: provider, threads, tiling)')
    // runs one engine and prints its JSON; the parent spawns one child per engine
    .addOption(new Option('--child <engine>').hideHelp())
    .action(async (o: BenchCli) => {
      const size = Number(o.size);
      const frames = Number(o.frames);
      const rlFrames = Number(o.rlFrames);
      for (const [k, v] of [
        ['--size', size],
        ['--frames', frames],
        ['--rl-frames', rlFrames],
      ] as const) {
        if (!Number.isInteger(v) || v < 1) throw new UserError(`${k} must be a positive integer`);
      }
      if (o.child) {
        process.stdout.write(JSON.stringify(await benchEngine(o.child, size, frames, o.config)));
        return;
      }
      const settings = loadSettings(o.config);
      const manifest = await readManifest(settings.inference.modelsDir);
      const shipped = manifest.models.filter((m) => m.task === 'damn').map((m) => m.id);
      const engines = o.engines ? o.engines.split(',') : [...shipped, 'rl'];
      const results: EngineBench[] = [];
      for (const e of engines) {
        if (!o.json) process.stderr.write(`bench ${e}…\n`);
        results.push(await runChild(e, size, e === 'rl' ? rlFrames : frames, o.config));
      }
      const by = (id: string) => results.find((r) => r.engine === id);
      const ratio = (a?: EngineBench, b?: EngineBench) => (a && b ? a.megapixelsPerSecond / b.megapixelsPerSecond : null);
      const ratios = {
        int8OverFp32: ratio(by('damn'), by('damn-fp32')),
        int8OverRl: ratio(by('damn'), by('rl')),
        fp32OverRl: ratio(by('damn-fp32'), by('rl')),
      };
      const report = {
        measured: new Date().toISOString(),
        host: { cpus: (await import('node:os')).cpus().length, node: process.version },
        size,
        results,
        ratios,
      };
      if (o.out) {
        mkdirSync(dirname(o.out), { recursive: true });
        writeFileSync(o.out, `${JSON.stringify(report, null, 2)}\n`);
      }
      if (o.json) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        `| engine | provider | frame | MP/s | fps | p50 ms | p99 ms | peak RSS MB |\n|---|---|---|---|---|---|---|---|\n`,
      );
      for (const r of results) {
        process.stdout.write(
          `| ${r.engine} | ${r.provider} | ${r.size}×${r.size} | ${r.megapixelsPerSecond.toFixed(3)} | ${r.framesPerSecond.toFixed(1)} | ${r.latencyMs.p50.toFixed(2)} | ${r.latencyMs.p99.toFixed(2)} | ${r.peakRssMB.toFixed(0)} |\n`,
        );
      }
      const f = (x: number | null) => (x === null ? 'n/a' : `${x.toFixed(2)}×`);
      process.stdout.write(
        `INT8/FP32 throughput ${f(ratios.int8OverFp32)}; INT8/RL ${f(ratios.int8OverRl)}; FP32/RL ${f(ratios.fp32OverRl)}\n`,
      );
    });
}
