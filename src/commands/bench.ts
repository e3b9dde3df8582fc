import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Command, Option } from 'commander';
import { loadSettings } from '../config/load.ts';
import { UserError } from '../errors.ts';
import { DAMN_CONDITIONS, TEST_SEED_BASE } from '../eval/conditions.ts';
import { readManifest } from '../inference/manifest.ts';
import { createReconstructor } from '../inference/registry.ts';
import { readImage } from '../io/image-file.ts';
import { encodeNpy } from '../io/npy.ts';
import { createLogger } from '../log.ts';
import type { Image } from '../optics/image.ts';
import { Rng } from '../optics/random.ts';
import { randomScene } from '../optics/scene.ts';
import { renderFrame } from '../optics/simulate.ts';
import { type EngineBench, hostInfo } from './bench-host.ts';
import type { PipelineBenchReport } from './bench-pipeline.ts';
import { deployedProcess, processInfo } from './bench-process.ts';

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

/** Frames of the default evaluation condition at the sensor's shape (distinct seeds, never training). */
export function benchFrames(width: number, height: number, n: number): Image[] {
  const c = DAMN_CONDITIONS[0];
  return Array.from({ length: n }, (_, i) => {
    const rng = new Rng(TEST_SEED_BASE + 900_000 + i);
    const emitters = randomScene(rng, { width, height, density: c.density, photons: c.photons });
    return renderFrame(emitters, c.psf, width, height, c.background, rng);
  });
}

/** How many distinct frames a bench uses: large frames are slow to simulate, a few are enough. */
function frameCount(width: number, height: number, frames: number): number {
  return Math.min(frames, width * height > 4e6 ? 2 : 4);
}

/**
 * The bench frames as .npy files, rendered once by the parent: simulating a 4056×3040 scene takes
 * seconds and hundreds of MB of garbage, which must not count as an engine's time or peak RSS.
 */
function cachedFrames(width: number, height: number, n: number): string[] {
  const dir = join(tmpdir(), 'rayleigh-bench-frames');
  mkdirSync(dir, { recursive: true });
  const files = Array.from({ length: n }, (_, i) => join(dir, `${width}x${height}-${i}.npy`));
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length) {
    const imgs = benchFrames(width, height, n);
    for (let i = 0; i < n; i++) writeFileSync(files[i], encodeNpy(imgs[i]));
  }
  return files;
}

/** One engine in this process: warm-up, then `frames` sequential frames through the frame path. */
async function benchEngine(spec: EngineSpec, width: number, height: number, frames: number, config?: string): Promise<EngineBench> {
  const settings = loadSettings(config);
  if (spec.window !== undefined) {
    settings.inference.tile.window = spec.window;
    settings.inference.tile.mode = 'windows';
  }
  if (spec.bands) settings.inference.tile.mode = 'bands';
  const r = await createReconstructor(spec.engine, settings, createLogger('warn'));
  try {
    const inputs = await Promise.all(cachedFrames(width, height, frameCount(width, height, frames)).map((f) => readImage(f)));
    const post = settings.pipeline.postprocess;
    const first = await r.process({ image: inputs[0], postprocess: post });
    const lat: number[] = [];
    let networkMs = 0;
    const t0 = performance.now();
    for (let i = 0; i < frames; i++) {
      const t = performance.now();
      const out = await r.process({ image: inputs[i % inputs.length], postprocess: post });
      lat.push(performance.now() - t);
      networkMs += out.timings.reconstruct;
    }
    const seconds = (performance.now() - t0) / 1000;
    lat.sort((a, b) => a - b);
    return {
      engine: spec.engine,
      // the window the engine plans with (trained mode: the model's manifest frameWindow)
      window: r.tiling?.maxWindow ?? settings.inference.tile.window,
      tiling: settings.inference.tile.window === 0 ? 'untiled' : r.tilingMode.mode,
      provider: r.provider,
      width,
      height,
      frames,
      tiles: first.tiles,
      overhead: first.overhead,
      megapixelsPerSecond: (frames * width * height) / 1e6 / seconds,
      networkMegapixelsPerSecond: (frames * width * height) / 1e3 / networkMs,
      framesPerSecond: frames / seconds,
      latencyMs: { p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), mean: lat.reduce((a, b) => a + b, 0) / lat.length },
      peakRssMB: process.resourceUsage().maxRSS / 1024,
      process: processInfo(import.meta.url),
    };
  } finally {
    await r.close();
  }
}

/** "damn" (as configured), "damn@bands", "damn@512" (overlap windows of 512) or "damn@0" (untiled). */
interface EngineSpec {
  engine: string;
  window?: number;
  bands?: boolean;
}

export function parseEngineSpec(s: string): EngineSpec {
  const m = /^([^@]+)(?:@(\d+|bands))?$/.exec(s);
  if (!m) throw new UserError(`engine "${s}": expected ID, ID@bands or ID@WINDOW`);
  if (m[2] === 'bands') return { engine: m[1], bands: true };
  return { engine: m[1], window: m[2] === undefined ? undefined : Number(m[2]) };
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * One bench child, run as the unit runs the daemon (bench-process.ts); resolves its JSON output.
 * Each engine, and the whole pipeline, in its own process so peak RSS belongs to it alone.
 */
function runBenchChild<T>(args: string[], what: string): Promise<T> {
  const how = deployedProcess(ROOT);
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [how.entry, 'bench', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...how.env },
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    p.on('exit', (code) => {
      if (code !== 0) return reject(new UserError(`bench of ${what} failed: ${err.trim().split('\n').at(-1) ?? code}`));
      try {
        resolve(JSON.parse(out) as T);
      } catch {
        reject(new Error(`bench of ${what}: unreadable child output`));
      }
    });
  });
}

function runChild(engine: string, width: number, height: number, frames: number, config?: string): Promise<EngineBench> {
  const args = ['--child', engine, '--width', String(width), '--height', String(height), '--frames', String(frames)];
  if (config) args.push('--config', config);
  return runBenchChild<EngineBench>(args, engine);
}

interface BenchCli {
  json?: boolean;
  frames: string;
  rlFrames: string;
  size?: string;
  width?: string;
  height?: string;
  engines?: string;
  rounds: string;
  child?: string;
  out?: string;
  config?: string;
  pipeline?: boolean;
  pipelineChild?: string;
  seconds: string;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export function register(program: Command): void {
  program
    .command('bench')
    .description('throughput, latency and peak RSS: INT8 vs FP32 model vs Richardson–Lucy, tiled vs untiled, on the same frames in one run')
    .option('--json', 'machine-readable output')
    .option('--frames <n>', 'frames per model engine and round', '20')
    .option('--rl-frames <n>', 'frames for Richardson–Lucy (slow)', '2')
    .option('--size <px>', 'square frame edge in camera pixels (shorthand for --width and --height)')
    .option('--width <px>', 'frame width, e.g. 1456 (IMX296) or 4056 (IMX477)')
    .option('--height <px>', 'frame height, e.g. 1088 or 3040')
    .option(
      '--engines <ids>',
      'comma-separated; ID@bands runs row bands, ID@WINDOW overlap windows of that size (0 = untiled), e.g. damn,damn@0,damn@640,damn-fp32',
    )
    .option('--rounds <n>', 'run every engine this many times, interleaved, and report the median', '1')
    .option('--pipeline', 'the whole daemon path (simulated camera → worker → MQTT to a real broker) next to the bare model')
    .option('--seconds <s>', 'measured duration of --pipeline after warm-up', '60')
    .option('--out <file>', 'also write the JSON report here')
    .option('--config <file>', 'settings file (inference section: provider, threads, tiling)')
    // runs one engine and prints its JSON; the parent spawns one child per engine
    .addOption(new Option('--child <engine>').hideHelp())
    // the daemon half of --pipeline, given the bare model's result as JSON
    .addOption(new Option('--pipeline-child <bare>').hideHelp())
    .action(async (o: BenchCli) => {
      const width = Number(o.width ?? o.size ?? 256);
      const height = Number(o.height ?? o.size ?? 256);
      const frames = Number(o.frames);
      const rlFrames = Number(o.rlFrames);
      const rounds = Number(o.rounds);
      for (const [k, v] of [
        ['--width', width],
        ['--height', height],
        ['--frames', frames],
        ['--rl-frames', rlFrames],
        ['--rounds', rounds],
      ] as const) {
        if (!Number.isInteger(v) || v < 1) throw new UserError(`${k} must be a positive integer`);
      }
      if (width * height > 64e6) throw new UserError(`${width}×${height} is larger than any sensor this benchmarks (64 MP)`);
      if (o.child) {
        process.stdout.write(JSON.stringify(await benchEngine(parseEngineSpec(o.child), width, height, frames, o.config)));
        return;
      }
      if (o.pipelineChild) {
        const { benchPipeline } = await import('./bench-pipeline.ts');
        const bare = JSON.parse(o.pipelineChild) as EngineBench;
        process.stdout.write(JSON.stringify(await benchPipeline({ width, height, seconds: Number(o.seconds), config: o.config, bare })));
        return;
      }
      if (o.pipeline) {
        const { printPipeline } = await import('./bench-pipeline.ts');
        const bare = await runChild('damn', width, height, frames, o.config);
        const args = [
          '--pipeline-child',
          JSON.stringify(bare),
          '--width',
          String(width),
          '--height',
          String(height),
          '--seconds',
          o.seconds,
        ];
        if (o.config) args.push('--config', o.config);
        const report = await runBenchChild<PipelineBenchReport>(args, 'the pipeline');
        if (o.out) {
          mkdirSync(dirname(o.out), { recursive: true });
          writeFileSync(o.out, `${JSON.stringify(report, null, 2)}\n`);
        }
        process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : printPipeline(report));
        return;
      }
      const settings = loadSettings(o.config);
      const manifest = await readManifest(settings.inference.modelsDir);
      const shipped = manifest.models.filter((m) => m.task === 'damn').map((m) => m.id);
      const engines = o.engines ? o.engines.split(',') : [...shipped, 'rl'];
      for (const e of engines) parseEngineSpec(e);
      cachedFrames(width, height, frameCount(width, height, frames));
      const runs: Record<string, EngineBench[]> = {};
      for (let k = 0; k < rounds; k++) {
        for (const e of engines) {
          if (!o.json) process.stderr.write(`bench ${e} (round ${k + 1}/${rounds})…\n`);
          const r = await runChild(e, width, height, e.startsWith('rl') ? rlFrames : frames, o.config);
          runs[e] = [...(runs[e] ?? []), r];
        }
      }
      // the median round per engine; every round is kept in the report
      const results = engines.map((e) => {
        const rs = runs[e];
        const m = median(rs.map((r) => r.megapixelsPerSecond));
        return {
          ...(rs.find((r) => r.megapixelsPerSecond === m) ?? rs[0]),
          megapixelsPerSecond: m,
          networkMegapixelsPerSecond: median(rs.map((r) => r.networkMegapixelsPerSecond)),
          roundsMPs: rs.map((r) => r.megapixelsPerSecond),
        };
      });
      // each ratio from the two engines' runs of the same round (the machine's speed drifts between
      // rounds more than between two engines run back to back), median over the rounds; of the
      // whole frame path, and of the network alone (the localisation fit costs both engines the same)
      const ratio = (a: string, b: string, rate: (r: EngineBench) => number = (r) => r.megapixelsPerSecond): number | null =>
        runs[a] && runs[b] ? median(runs[a].map((r, k) => rate(r) / rate(runs[b][k]))) : null;
      const network = (r: EngineBench) => r.networkMegapixelsPerSecond;
      const pairs = {
        int8OverFp32: ['damn', 'damn-fp32'],
        int8OverRl: ['damn', 'rl'],
        fp32OverRl: ['damn-fp32', 'rl'],
        tiledOverUntiledInt8: ['damn', 'damn@0'],
        tiledOverUntiledFp32: ['damn-fp32', 'damn-fp32@0'],
        int8OverFp32Untiled: ['damn@0', 'damn-fp32@0'],
      } as const;
      const ratios = Object.fromEntries(Object.entries(pairs).map(([k, [a, b]]) => [k, ratio(a, b)]));
      const networkRatios = Object.fromEntries(Object.entries(pairs).map(([k, [a, b]]) => [k, ratio(a, b, network)]));
      // every tiled engine against its own model untiled
      const tiledOverUntiled: Record<string, { framePath: number; network: number }> = {};
      for (const e of engines) {
        const { engine, window } = parseEngineSpec(e);
        const path = engine === 'rl' || window === 0 ? null : ratio(e, `${engine}@0`);
        const net = path === null ? null : ratio(e, `${engine}@0`, network);
        if (path !== null && net !== null) tiledOverUntiled[e] = { framePath: path, network: net };
      }
      const { code, env, note } = deployedProcess(ROOT);
      const report = {
        measured: new Date().toISOString(),
        host: hostInfo(),
        process: { code, env, note },
        width,
        height,
        rounds,
        results,
        ratios,
        networkRatios,
        tiledOverUntiled,
      };
      if (o.out) {
        mkdirSync(dirname(o.out), { recursive: true });
        writeFileSync(o.out, `${JSON.stringify(report, null, 2)}\n`);
      }
      if (o.json) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        return;
      }
      process.stdout.write(`${report.host.cpuModel}, ${report.host.cpus} CPUs, flags: ${report.host.flags.join(' ')}\n`);
      process.stdout.write(
        `children ran ${code === 'dist' ? 'dist/cli.js' : 'the sources (tsx)'} with ${JSON.stringify(env)}${note ? `; ${note}` : ''}\n`,
      );
      process.stdout.write(
        `| engine | tiling | tiles | overhead | provider | frame | MP/s | network MP/s | fps | p50 ms | p99 ms | peak RSS MB |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n`,
      );
      for (const r of results) {
        process.stdout.write(
          `| ${r.engine} | ${r.tiling === 'windows' ? `windows ${r.window}` : r.tiling} | ${r.tiles} | ${r.overhead.toFixed(2)} | ${r.provider} | ${r.width}×${r.height} | ${r.megapixelsPerSecond.toFixed(3)} | ${r.networkMegapixelsPerSecond.toFixed(3)} | ${r.framesPerSecond.toFixed(2)} | ${r.latencyMs.p50.toFixed(1)} | ${r.latencyMs.p99.toFixed(1)} | ${r.peakRssMB.toFixed(0)} |\n`,
        );
      }
      const f = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : `${x.toFixed(2)}×`);
      const line = (q: Record<string, number | null>) =>
        `INT8/FP32 ${f(q.int8OverFp32)}; INT8/RL ${f(q.int8OverRl)}; tiled/untiled INT8 ${f(q.tiledOverUntiledInt8)}, FP32 ${f(q.tiledOverUntiledFp32)}`;
      process.stdout.write(`frame path: ${line(ratios)}\nnetwork alone: ${line(networkRatios)}\n`);
      const each = Object.entries(tiledOverUntiled).map(([e, x]) => `${e} ${f(x.framePath)} (network ${f(x.network)})`);
      if (each.length) process.stdout.write(`tiled/untiled: ${each.join(', ')}\n`);
      process.stdout.write("(each ratio: the median over the rounds of that round's ratio)\n");
    });
}
