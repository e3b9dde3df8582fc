/**
 * `bench --pipeline`: the whole daemon (simulated camera at sensor size → engine worker → MQTT
 * publisher → a real broker) next to the bare model on the same frames, in one run. The daemon
 * runs in this process — a bench child, started as the unit starts the daemon
 * (bench-process.ts) — so its event-loop lag and peak RSS are what is measured; a subscriber on
 * the broker counts every byte the device publishes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import mqtt from 'mqtt';
import { parseSettings } from '../config/load.ts';
import { startDaemon } from '../controller.ts';
import { createLogger } from '../log.ts';
import { freePort } from '../net/free-port.ts';
import { signalChild } from '../signal-child.ts';
import { type EngineBench, type HostInfo, hostInfo } from './bench-host.ts';
import { type ProcessInfo, processInfo } from './bench-process.ts';

const MOSQUITTO = '/usr/sbin/mosquitto';

export interface PipelineBenchOptions {
  width: number;
  height: number;
  seconds: number;
  config?: string;
  /** the bare model on the same frames, measured first in its own process */
  bare: EngineBench;
}

export interface PipelineBenchReport {
  measured: string;
  host: HostInfo;
  width: number;
  height: number;
  broker: string;
  seconds: number;
  bare: EngineBench;
  pipeline: {
    framesIn: number;
    framesOut: number;
    dropped: number;
    /** frames out between the first and the last completion in the measured period, over that span */
    framesPerSecond: number;
    megapixelsPerSecond: number;
    /** event-loop lag over the measured period, ms; p99 of each 10-s window, the worst window */
    eventLoopLagMs: { p50: number; p99: number; max: number; worstWindowP99: number };
    peakRssMB: number;
    /** how the daemon's process ran: built or sources, allocator settings */
    process: ProcessInfo;
    mqttBytesPerSecond: number;
    mqttBudgetBytesPerSecond: number;
    bytesByTopic: Record<string, number>;
    sustainableFps: number;
  };
  ratios: { pipelineOverBare: number };
}

async function startBroker(): Promise<{ url: string; kind: string; stop: () => Promise<void> }> {
  if (!existsSync(MOSQUITTO)) return { url: '', kind: 'embedded (aedes, in this process)', stop: async () => undefined };
  const port = await freePort();
  const p: ChildProcess = spawn(MOSQUITTO, ['-p', String(port)], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  return {
    url: `mqtt://127.0.0.1:${port}`,
    kind: 'mosquitto',
    stop: async () => {
      if (signalChild(p, 'SIGTERM')) await new Promise((r) => p.once('exit', r));
    },
  };
}

export async function benchPipeline(o: PipelineBenchOptions): Promise<PipelineBenchReport> {
  const bare = o.bare;
  const broker = await startBroker();
  const state = mkdtempSync(join(tmpdir(), 'rayleigh-bench-'));
  // the camera offers frames faster than the model takes them, so the queue drops and the
  // pipeline's own rate is what limits frames out
  const fps = Math.max(1, Math.ceil(bare.framesPerSecond * 2));
  const settings = parseSettings({
    device: { id: 'bench' },
    stateDir: state,
    camera: { type: 'sim', width: o.width, height: o.height, fps, replay: 4 },
    ...(broker.url ? { mqtt: { url: broker.url } } : {}),
    web: { enabled: true, port: await freePort() },
    health: { interval: 2 },
  });
  const log = createLogger('warn');
  const daemon = await startDaemon(settings, { log });
  const url = daemon.url;
  const sub = await mqtt.connectAsync(url, { clean: true });
  const bytes: Record<string, number> = {};
  let counting = false;
  sub.on('message', (topic, payload) => {
    if (!counting) return;
    const key = topic.replace(/^rayleigh\/bench\//, '');
    bytes[key] = (bytes[key] ?? 0) + payload.length + topic.length + 4;
  });
  await sub.subscribeAsync('rayleigh/bench/#', { qos: 0 });
  try {
    // warm-up: the first frames allocate, pick kernels and fill the queue
    const warmUntil = Date.now() + Math.max(10_000, 3000 / Math.max(bare.framesPerSecond, 0.1));
    while (Date.now() < warmUntil || daemon.pipeline.stats().framesOut < 2) await new Promise((r) => setTimeout(r, 200));
    const start = daemon.pipeline.stats();
    const t0 = performance.now();
    counting = true;
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    const windows: number[] = [];
    const windowTimer = setInterval(() => {
      windows.push(lag.percentile(99) / 1e6);
    }, 10_000);
    const whole = monitorEventLoopDelay({ resolution: 10 });
    whole.enable();
    const wTimer = setInterval(() => lag.reset(), 10_000);
    // when each frame came out: at 4056×3040 a frame takes ~20 s, and counting whole frames in
    // a fixed window is off by up to one frame at each end
    const done: number[] = [];
    let seen = start.framesOut;
    const poll = setInterval(() => {
      for (const n = daemon.pipeline.stats().framesOut; seen < n; seen++) done.push(performance.now());
    }, 50);
    await new Promise((r) => setTimeout(r, o.seconds * 1000));
    clearInterval(poll);
    clearInterval(windowTimer);
    clearInterval(wTimer);
    counting = false;
    const end = daemon.pipeline.stats();
    const seconds = (performance.now() - t0) / 1000;
    whole.disable();
    lag.disable();
    const out = end.framesOut - start.framesOut;
    const total = Object.values(bytes).reduce((a, b) => a + b, 0);
    const spanS = done.length >= 2 ? ((done.at(-1) as number) - done[0]) / 1000 : 0;
    const fpsOut = spanS > 0 ? (done.length - 1) / spanS : out / seconds;
    return {
      measured: new Date().toISOString(),
      host: hostInfo(),
      width: o.width,
      height: o.height,
      broker: broker.kind,
      seconds,
      bare,
      pipeline: {
        framesIn: end.framesIn - start.framesIn,
        framesOut: out,
        dropped: end.dropped - start.dropped,
        framesPerSecond: fpsOut,
        megapixelsPerSecond: (fpsOut * o.width * o.height) / 1e6,
        eventLoopLagMs: {
          p50: whole.percentile(50) / 1e6,
          p99: whole.percentile(99) / 1e6,
          max: whole.max / 1e6,
          worstWindowP99: windows.length ? Math.max(...windows) : whole.percentile(99) / 1e6,
        },
        peakRssMB: process.resourceUsage().maxRSS / 1024,
        process: processInfo(import.meta.url),
        mqttBytesPerSecond: total / seconds,
        mqttBudgetBytesPerSecond: settings.mqtt.results.maxBytesPerSecond,
        bytesByTopic: Object.fromEntries(Object.entries(bytes).map(([k, v]) => [k, Math.round(v / seconds)])),
        sustainableFps: end.sustainableFps,
      },
      ratios: { pipelineOverBare: fpsOut / bare.framesPerSecond },
    };
  } finally {
    await sub.endAsync().catch(() => undefined);
    await daemon.stop({ drain: false }).catch(() => undefined);
    await broker.stop();
    rmSync(state, { recursive: true, force: true });
  }
}

export function printPipeline(r: PipelineBenchReport): string {
  const p = r.pipeline;
  return [
    `${r.host.cpuModel}, ${r.host.cpus} CPUs, flags: ${r.host.flags.join(' ')}`,
    `${r.width}×${r.height}, broker ${r.broker}, ${r.seconds.toFixed(0)} s measured`,
    `bare model (${r.bare.engine}, ${r.bare.tiles} tiles): ${r.bare.framesPerSecond.toFixed(3)} fps, peak RSS ${r.bare.peakRssMB.toFixed(0)} MB`,
    `whole pipeline: ${p.framesPerSecond.toFixed(3)} fps (${(100 * r.ratios.pipelineOverBare).toFixed(1)}% of bare), in ${p.framesIn} out ${p.framesOut} dropped ${p.dropped}`,
    `event-loop lag p50 ${p.eventLoopLagMs.p50.toFixed(1)} ms, p99 ${p.eventLoopLagMs.p99.toFixed(1)} ms (worst 10-s window ${p.eventLoopLagMs.worstWindowP99.toFixed(1)} ms), max ${p.eventLoopLagMs.max.toFixed(1)} ms`,
    `peak RSS ${p.peakRssMB.toFixed(0)} MB; MQTT ${(p.mqttBytesPerSecond / 1024).toFixed(1)} KiB/s (budget ${(p.mqttBudgetBytesPerSecond / 1024).toFixed(0)} KiB/s): ${JSON.stringify(p.bytesByTopic)}`,
    '',
  ].join('\n');
}
