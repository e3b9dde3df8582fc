/**
 * Soak benchmark: run the daemon for a while and record memory growth and event-loop lag.
 *
 *   npx tsx bench/soak.ts --minutes 15 [--interval 10] [--config FILE] [--out bench/results/soak.json]
 *   npx tsx bench/soak.ts --minutes 1 --standalone   # health hub + dashboard only, synthetic results
 *
 * The full run uses the controller's `startDaemon(settings)` (src/controller.ts), which resolves
 * `{ stop(): Promise<void>; metrics: Metrics }`. A leak shows up as a positive RSS/heap slope after
 * warm-up; a blocking stage shows up as event-loop lag p99 well above the sampling resolution.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { deepMerge, parseSettings, readConfigFile } from '../src/config/load.ts';
import type { Settings } from '../src/config/schema.ts';
import { startDaemon } from '../src/controller.ts';
import { Metrics } from '../src/health/metrics.ts';
import { createLogger } from '../src/log.ts';
import { makeImage } from '../src/optics/image.ts';
import { WebServer } from '../src/web/server.ts';
import { resultFor } from '../tests/helpers/results.ts';

interface Daemon {
  stop(): Promise<void>;
  metrics: Metrics;
}

interface Sample {
  /** seconds since start */
  t: number;
  rssMB: number;
  heapUsedMB: number;
  externalMB: number;
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  framesOut: number;
  outPerSecond: number;
  totalP50Ms: number | null;
  totalP99Ms: number | null;
}

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '15' },
    interval: { type: 'string', default: '10' },
    config: { type: 'string' },
    out: { type: 'string', default: 'bench/results/soak.json' },
    standalone: { type: 'boolean', default: false },
  },
});

function positive(name: string, raw: string | undefined): number {
  const v = Number(raw);
  if (!(v > 0)) {
    process.stderr.write(`soak: --${name} must be a positive number, got ${raw}\n`);
    process.exit(2);
  }
  return v;
}

const minutes = positive('minutes', args.minutes);
const intervalS = positive('interval', args.interval);

async function startFull(stateDir: string): Promise<Daemon> {
  const base = args.config ? readConfigFile(args.config) : {};
  const settings = parseSettings(
    deepMerge(base, {
      stateDir,
      log: { level: 'warn' },
      mqtt: { embedded: { port: 0 } },
      web: { port: 0 },
    }),
  );
  return startDaemon(settings, { log: createLogger('warn') });
}

/** Health hub + dashboard fed synthetic 64×64 → 256×256 results at 10 fps, one SSE client. */
async function startStandalone(): Promise<Daemon> {
  const metrics = new Metrics({ deviceId: 'soak' });
  const web = new WebServer({ host: '127.0.0.1', port: 0, health: metrics, commands: async () => undefined, healthPushMs: 1000 });
  const { url } = await web.start();
  const events = await fetch(`${url}/api/events`);
  const reader = events.body?.getReader();
  const drain = (async () => {
    if (!reader) return;
    for (;;) if ((await reader.read()).done) return;
  })().catch(() => undefined);
  let seq = 0;
  const timer = setInterval(async () => {
    seq++;
    const input = makeImage(64, 64);
    for (let i = 0; i < input.data.length; i++) input.data[i] = 10 + ((i * 7919 + seq) % 97);
    const output = makeImage(256, 256);
    output.data[(seq * 31) % output.data.length] = 1;
    const r = await resultFor(input, output, { seq, stream: 'main' });
    metrics.frameIn();
    metrics.observeResult(r);
    web.publish(r);
    // the dashboard fetches both PNGs per result; do the same every tenth frame
    if (seq % 10 === 0)
      await Promise.all([fetch(`${url}/api/frame.png`), fetch(`${url}/api/output.png`)].map((p) => p.then((res) => res.arrayBuffer())));
  }, 100);
  return {
    metrics,
    stop: async () => {
      clearInterval(timer);
      await reader?.cancel().catch(() => undefined);
      await web.close();
      await drain;
      metrics.close();
    },
  };
}

function slopePerHour(xsSeconds: number[], ys: number[]): number | null {
  const n = xsSeconds.length;
  if (n < 3) return null;
  const mx = xsSeconds.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xsSeconds[i] - mx) * (ys[i] - my);
    den += (xsSeconds[i] - mx) ** 2;
  }
  return den > 0 ? (num / den) * 3600 : null;
}

function percentile(values: number[], q: number): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

function meanRate(samples: Sample[]): number | null {
  const first = samples[0];
  const last = samples[samples.length - 1];
  if (!first || !last || last.t <= first.t) return null;
  return round((last.framesOut - first.framesOut) / (last.t - first.t));
}

const round = (v: number | null, d = 2): number | null => (v === null ? null : Math.round(v * 10 ** d) / 10 ** d);

async function main(): Promise<void> {
  const stateDir = await mkdtemp(join(tmpdir(), 'rayleigh-soak-'));
  const mode = args.standalone ? 'standalone' : 'daemon';
  const daemon = args.standalone ? await startStandalone() : await startFull(stateDir);
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const t0 = Date.now();
  const samples: Sample[] = [];
  const mb = (b: number) => Math.round((b / 1048576) * 100) / 100;

  const take = (): void => {
    const mem = process.memoryUsage();
    const h = daemon.metrics.snapshot();
    samples.push({
      t: Math.round((Date.now() - t0) / 100) / 10,
      rssMB: mb(mem.rss),
      heapUsedMB: mb(mem.heapUsed),
      externalMB: mb(mem.external + mem.arrayBuffers),
      lagP50Ms: round(lag.count ? lag.percentile(50) / 1e6 : 0) ?? 0,
      lagP99Ms: round(lag.count ? lag.percentile(99) / 1e6 : 0) ?? 0,
      lagMaxMs: round(lag.count ? lag.max / 1e6 : 0) ?? 0,
      framesOut: h.frames.out,
      outPerSecond: h.frames.outPerSecond,
      totalP50Ms: h.latencyMs.total.p50,
      totalP99Ms: h.latencyMs.total.p99,
    });
    lag.reset();
    const s = samples[samples.length - 1];
    process.stderr.write(
      `soak ${s.t.toFixed(0)}s rss=${s.rssMB}MB heap=${s.heapUsedMB}MB lag p99=${s.lagP99Ms}ms frames=${s.framesOut} fps=${s.outPerSecond}\n`,
    );
  };

  let stopping = false;
  const finished = new Promise<void>((done) => {
    const timer = setInterval(() => {
      take();
      if (Date.now() - t0 >= minutes * 60_000 || stopping) {
        clearInterval(timer);
        done();
      }
    }, intervalS * 1000);
    process.once('SIGINT', () => {
      stopping = true;
      clearInterval(timer);
      done();
    });
  });
  await finished;
  lag.disable();
  await daemon.stop();
  await rm(stateDir, { recursive: true, force: true });

  // the first 10 % (at least one sample) is warm-up: JIT, caches, model session arenas
  const warm = samples.slice(Math.max(1, Math.floor(samples.length / 10)));
  const report = {
    mode,
    startedAt: new Date(t0).toISOString(),
    minutes: round((Date.now() - t0) / 60_000),
    intervalSeconds: intervalS,
    node: process.version,
    platform: `${process.platform}/${process.arch}`,
    cpus: cpus().length,
    summary: {
      rssStartMB: samples[0]?.rssMB ?? null,
      rssEndMB: samples.at(-1)?.rssMB ?? null,
      rssMaxMB: samples.length ? Math.max(...samples.map((s) => s.rssMB)) : null,
      rssSlopeMBPerHourAfterWarmup: round(
        slopePerHour(
          warm.map((s) => s.t),
          warm.map((s) => s.rssMB),
        ),
      ),
      heapSlopeMBPerHourAfterWarmup: round(
        slopePerHour(
          warm.map((s) => s.t),
          warm.map((s) => s.heapUsedMB),
        ),
      ),
      lagP50MsMedian: percentile(
        samples.map((s) => s.lagP50Ms),
        0.5,
      ),
      lagP99MsP95OfSamples: percentile(
        samples.map((s) => s.lagP99Ms),
        0.95,
      ),
      lagMaxMs: samples.length ? Math.max(...samples.map((s) => s.lagMaxMs)) : null,
      framesOut: samples.at(-1)?.framesOut ?? 0,
      meanOutPerSecond: meanRate(samples),
    },
    samples,
  };
  const out = resolve(args.out ?? 'bench/results/soak.json');
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(report, null, 2)}\n`);
  process.stderr.write(`soak: wrote ${out}\n`);
  process.stdout.write(`${JSON.stringify(report.summary)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`soak: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
