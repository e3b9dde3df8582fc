import { readFileSync } from 'node:fs';
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { RuntimeReport } from '../inference/runtime/index.ts';
import type { FrameResult, StageTimings } from '../pipeline/types.ts';
import type { SystemSnapshot } from './system.ts';
import { type Quantiles, RateWindow, SampleWindow } from './window.ts';

export const STAGES = ['queue', 'preprocess', 'reconstruct', 'postprocess', 'encode', 'total'] as const satisfies ReadonlyArray<
  keyof StageTimings
>;
export type Stage = (typeof STAGES)[number];

export interface ModelInfo {
  id: string;
  /** sha256 of the model file (FrameResult.model.fingerprint) */
  hash: string;
  provider: string;
  /** what runs it: native or WASM onnxruntime, threads, and why any better choice was not taken */
  runtime?: RuntimeReport;
  /** network windows per frame at the current frame size, and network pixels per frame pixel */
  tiles?: number;
  overhead?: number;
}

/** One hardware device as the hardware layer reports it. */
export interface DeviceStatus {
  name: string;
  /** e.g. "dmd", "stage", "camera" */
  kind?: string;
  ok: boolean;
  /** faults since start (cumulative) */
  faults: number;
  lastFault?: string | null;
}

export interface BrokerStatus {
  /** "connected", "reconnecting", "offline", … as the MQTT client names it */
  state: string;
  connected: boolean;
  url?: string;
  /** results waiting in the offline spool */
  spoolMessages: number;
  spoolBytes?: number;
  /**
   * results lost on the way, by reason (cumulative): evicted to stay within the spool's bounds,
   * corrupt on disk, rejected as larger than the spool, failed to write, or refused / unspoolable
   * at the publisher
   */
  lost?: { evicted: number; corrupt: number; rejected: number; writeFailed: number; refused: number; unspooled: number };
}

export interface SelfTestSummary {
  score: number;
  /** ms since epoch */
  at: number;
  passed?: boolean;
}

/** The retained MQTT `…/health` payload and the `/api/health` body. Plain JSON. */
export interface HealthPayload {
  version: string;
  deviceId: string | null;
  /** ms since epoch */
  timestamp: number;
  uptimeSeconds: number;
  streaming: boolean;
  frames: {
    in: number;
    out: number;
    dropped: number;
    /** frames that failed in a stage */
    errors: number;
    /** frames/s the engine sustains at the current frame size (from its busy time per frame) */
    sustainablePerSecond: number;
    /** result images skipped because the MQTT byte budget had no room */
    imagesSkipped: number;
    /** frames outside the model's trained ranges (out-of-distribution guard) */
    outOfRange: number;
    /** pipeline.fits, when on: result files written, frames due but skipped (map too large), writes failed */
    fits?: { written: number; skipped: number; failed: number };
    inPerSecond: number;
    outPerSecond: number;
    droppedPerSecond: number;
    /** width of the rate window */
    windowSeconds: number;
  };
  latencyMs: Record<Stage, Quantiles>;
  queueDepth: number;
  model: ModelInfo | null;
  /**
   * `dropped`: images the camera source itself discarded (drop-oldest, before the pipeline saw
   * them, so not in `frames`), for sources that count them (INDI)
   */
  camera: { restarts: number; dropped?: number };
  devices: DeviceStatus[];
  broker: BrokerStatus | null;
  selfTest: SelfTestSummary | null;
  /** the MQTT command queue: requests answered, failed, ignored (retained/empty), cancelled by an e-stop, overdue, and the e-stop latch */
  commands: CommandCounters | null;
  process: {
    rssBytes: number;
    heapUsedBytes: number;
    eventLoopLagMs: { p50: number; p99: number; max: number } | null;
  };
  system: SystemSnapshot | null;
}

export interface MetricsOptions {
  version?: string;
  deviceId?: string;
  /** ms clock; injectable for tests */
  now?: () => number;
  /** width of the fps window; default 10 s */
  windowSeconds?: number;
  /** latency samples kept per stage for percentiles; default 1024 */
  latencySamples?: number;
  /** node process metrics (RSS, GC, event-loop lag) in the Prometheus output; default true */
  defaultMetrics?: boolean;
  devices?: () => DeviceStatus[];
  broker?: () => BrokerStatus | null;
  system?: () => SystemSnapshot | null;
  commands?: () => CommandCounters | null;
  /** whether the pipeline is meant to be streaming (vs. stopped by a command) */
  streaming?: () => boolean;
  /**
   * the pipeline's own cumulative counters, read at every snapshot and scrape: the pipeline is
   * their one owner, so health and /metrics always agree and frames in ≥ frames out
   */
  pipeline?: () => PipelineCounters;
}

export interface CommandCounters {
  received: number;
  ok: number;
  errors: number;
  ignored: number;
  cancelled: number;
  overdue: number;
  queued: number;
  estopped: boolean;
}

export interface PipelineCounters {
  framesIn: number;
  framesOut: number;
  dropped: number;
  errors: number;
  queueDepth: number;
  /** frames/s the engine sustains at the current frame size */
  sustainableFps: number;
  imagesSkipped: number;
  /** frames outside the model's trained ranges */
  outOfRange: number;
  fits?: { written: number; skipped: number; failed: number };
}

const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const THROTTLE_FLAGS = [
  'underVoltage',
  'freqCapped',
  'throttled',
  'softTempLimit',
  'underVoltageOccurred',
  'freqCappedOccurred',
  'throttledOccurred',
  'softTempLimitOccurred',
] as const;

/**
 * The one place the pipeline, camera, MQTT client and self-test report to. Keeps a private
 * prom-client Registry (the global one would collide when tests build several hubs) and the
 * sliding windows behind the synchronous health snapshot.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly version: string;
  private readonly now: () => number;
  private readonly startedAt: number;
  private readonly windowSeconds: number;
  private readonly opts: MetricsOptions;

  private framesInCount = 0;
  private framesOutCount = 0;
  private droppedCount = 0;
  private pipelineExtra: Pick<PipelineCounters, 'errors' | 'sustainableFps' | 'imagesSkipped' | 'outOfRange' | 'fits'> = {
    errors: 0,
    sustainableFps: 0,
    imagesSkipped: 0,
    outOfRange: 0,
  };
  private restarts = 0;
  private cameraDropped: number | undefined;
  private queueDepthValue = 0;
  private modelInfo: ModelInfo | null = null;
  private selfTestValue: SelfTestSummary | null = null;

  private readonly inRate: RateWindow;
  private readonly outRate: RateWindow;
  private readonly dropRate: RateWindow;
  private readonly latency: Record<Stage, SampleWindow>;
  private readonly loopDelay: IntervalHistogram;
  private lastLag: { p50: number; p99: number; max: number } | null = null;
  private readonly lagTimer: NodeJS.Timeout;

  private readonly cFramesIn: Counter;
  private readonly cFramesOut: Counter;
  private readonly cDropped: Counter;
  private readonly cRestarts: Counter;
  private readonly cCameraDropped: Counter;
  private readonly hLatency: Histogram<'stage'>;
  private readonly gQueue: Gauge;
  private readonly gModel: Gauge<'id' | 'hash' | 'provider'>;

  constructor(opts: MetricsOptions = {}) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.startedAt = this.now();
    this.version = opts.version ?? packageVersion();
    this.windowSeconds = opts.windowSeconds ?? 10;
    this.inRate = new RateWindow(this.windowSeconds, this.now);
    this.outRate = new RateWindow(this.windowSeconds, this.now);
    this.dropRate = new RateWindow(this.windowSeconds, this.now);
    const cap = opts.latencySamples ?? 1024;
    this.latency = Object.fromEntries(STAGES.map((s) => [s, new SampleWindow(cap)])) as Record<Stage, SampleWindow>;

    this.loopDelay = monitorEventLoopDelay({ resolution: 20 });
    this.loopDelay.enable();
    // rotate so the reported lag describes the last minute, not the whole uptime
    this.lagTimer = setInterval(() => {
      this.lastLag = this.currentLag();
      this.loopDelay.reset();
    }, 60_000);
    this.lagTimer.unref();

    const registers = [this.registry];
    this.cFramesIn = new Counter({ name: 'rayleigh_frames_in_total', help: 'frames received from the camera', registers });
    this.cFramesOut = new Counter({ name: 'rayleigh_frames_out_total', help: 'frames fully processed', registers });
    this.cDropped = new Counter({ name: 'rayleigh_frames_dropped_total', help: 'frames dropped by the queue', registers });
    this.cRestarts = new Counter({ name: 'rayleigh_camera_restarts_total', help: 'camera source restarts', registers });
    this.cCameraDropped = new Counter({
      name: 'rayleigh_camera_dropped_total',
      help: 'images the camera source discarded before the pipeline (its own drop-oldest queue)',
      registers,
    });
    this.hLatency = new Histogram({
      name: 'rayleigh_stage_latency_seconds',
      help: 'time spent per pipeline stage',
      labelNames: ['stage'],
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    this.gQueue = new Gauge({ name: 'rayleigh_queue_depth', help: 'frames waiting in the pipeline queue', registers });
    this.gModel = new Gauge({
      name: 'rayleigh_model_info',
      help: 'model currently serving (value is always 1)',
      labelNames: ['id', 'hash', 'provider'],
      registers,
    });
    this.registerCollectedGauges(registers);
    if (opts.defaultMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 20 });
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  frameIn(n = 1): void {
    this.framesInCount += n;
    this.cFramesIn.inc(n);
    this.inRate.add(n);
  }

  /** A frame left the pipeline; its stage timings (ms) feed the latency windows. */
  frameOut(timings: StageTimings): void {
    this.framesOutCount++;
    this.cFramesOut.inc();
    this.outRate.add(1);
    this.observeLatency(timings);
  }

  private observeLatency(timings: StageTimings): void {
    for (const s of STAGES) {
      const ms = timings[s];
      if (!Number.isFinite(ms) || ms < 0) continue;
      this.latency[s].add(ms);
      this.hLatency.observe({ stage: s }, ms / 1000);
    }
  }

  frameDropped(n = 1): void {
    this.droppedCount += n;
    this.cDropped.inc(n);
    this.dropRate.add(n);
  }

  /** For a cumulative frames-in count (PipelineStats.framesIn): only the increase counts. */
  setFramesInTotal(total: number): void {
    if (total > this.framesInCount) this.frameIn(total - this.framesInCount);
  }

  /** For sources that report a cumulative count (FrameResult.dropped): only the increase counts. */
  setDroppedTotal(total: number): void {
    if (total > this.droppedCount) this.frameDropped(total - this.droppedCount);
  }

  /** For a cumulative frames-out count (PipelineStats.framesOut): only the increase counts. */
  setFramesOutTotal(total: number): void {
    if (total > this.framesOutCount) {
      const n = total - this.framesOutCount;
      this.framesOutCount = total;
      this.cFramesOut.inc(n);
      this.outRate.add(n);
    }
  }

  /** Read the pipeline's counters now (every snapshot and scrape does). */
  private syncPipeline(): void {
    const p = safeCall(this.opts.pipeline);
    if (!p) return;
    this.setFramesInTotal(p.framesIn);
    this.setFramesOutTotal(p.framesOut);
    this.setDroppedTotal(p.dropped);
    this.setQueueDepth(p.queueDepth);
    this.pipelineExtra = {
      errors: p.errors,
      sustainableFps: p.sustainableFps,
      imagesSkipped: p.imagesSkipped,
      outOfRange: p.outOfRange,
      fits: p.fits,
    };
  }

  /**
   * What a FrameResult says besides the counts (latency per stage, the model that made it); the
   * counts come from the pipeline itself when a `pipeline` source is configured.
   */
  observeResult(result: FrameResult): void {
    if (this.opts.pipeline) this.observeLatency(result.timings);
    else {
      this.frameOut(result.timings);
      this.setDroppedTotal(result.dropped);
    }
    const m = result.model;
    if (!this.modelInfo || this.modelInfo.id !== m.id || this.modelInfo.hash !== m.fingerprint || this.modelInfo.provider !== m.provider) {
      this.setModel({ id: m.id, hash: m.fingerprint, provider: m.provider });
    }
    if (this.modelInfo && (this.modelInfo.tiles !== result.tiles || this.modelInfo.overhead !== result.overhead)) {
      this.modelInfo = { ...this.modelInfo, tiles: result.tiles, overhead: round3(result.overhead) };
    }
  }

  setQueueDepth(n: number): void {
    this.queueDepthValue = n;
    this.gQueue.set(n);
  }

  setModel(info: ModelInfo | null): void {
    this.modelInfo = info;
    this.gModel.reset();
    if (info) this.gModel.set({ id: info.id, hash: info.hash, provider: info.provider }, 1);
  }

  cameraRestart(n = 1): void {
    this.restarts += n;
    this.cRestarts.inc(n);
  }

  /** For FrameSource.stats().restarts, which is cumulative. */
  setCameraRestartsTotal(total: number): void {
    if (total > this.restarts) this.cameraRestart(total - this.restarts);
  }

  /** For FrameSource.stats().dropped, which is cumulative: only the increase counts. */
  setCameraDroppedTotal(total: number): void {
    const before = this.cameraDropped ?? 0;
    if (total > before) this.cCameraDropped.inc(total - before);
    this.cameraDropped = Math.max(before, total);
  }

  setSelfTest(result: SelfTestSummary): void {
    this.selfTestValue = result;
  }

  get framesOut(): number {
    return this.framesOutCount;
  }

  uptimeSeconds(): number {
    return (this.now() - this.startedAt) / 1000;
  }

  snapshot(): HealthPayload {
    this.syncPipeline();
    const mem = process.memoryUsage();
    return {
      version: this.version,
      deviceId: this.opts.deviceId ?? null,
      timestamp: this.now(),
      uptimeSeconds: round3(this.uptimeSeconds()),
      streaming: this.opts.streaming?.() ?? true,
      frames: {
        in: this.framesInCount,
        out: this.framesOutCount,
        dropped: this.droppedCount,
        errors: this.pipelineExtra.errors,
        sustainablePerSecond: round3(this.pipelineExtra.sustainableFps),
        imagesSkipped: this.pipelineExtra.imagesSkipped,
        outOfRange: this.pipelineExtra.outOfRange,
        ...(this.pipelineExtra.fits ? { fits: { ...this.pipelineExtra.fits } } : {}),
        inPerSecond: round3(this.inRate.perSecond()),
        outPerSecond: round3(this.outRate.perSecond()),
        droppedPerSecond: round3(this.dropRate.perSecond()),
        windowSeconds: this.windowSeconds,
      },
      latencyMs: Object.fromEntries(STAGES.map((s) => [s, this.latency[s].quantiles()])) as Record<Stage, Quantiles>,
      queueDepth: this.queueDepthValue,
      model: this.modelInfo,
      camera: { restarts: this.restarts, ...(this.cameraDropped !== undefined ? { dropped: this.cameraDropped } : {}) },
      devices: safeCall(this.opts.devices) ?? [],
      broker: safeCall(this.opts.broker) ?? null,
      selfTest: this.selfTestValue,
      commands: safeCall(this.opts.commands) ?? null,
      process: {
        rssBytes: mem.rss,
        heapUsedBytes: mem.heapUsed,
        eventLoopLagMs: this.lastLag ?? this.currentLag(),
      },
      system: safeCall(this.opts.system) ?? null,
    };
  }

  prometheusText(): Promise<string> {
    this.syncPipeline();
    return this.registry.metrics();
  }

  close(): void {
    clearInterval(this.lagTimer);
    this.loopDelay.disable();
    this.registry.clear();
  }

  private currentLag(): { p50: number; p99: number; max: number } | null {
    const h = this.loopDelay;
    if (h.count === 0) return null;
    // the histogram counts in ns and includes the sampling resolution itself
    return { p50: round3(h.percentile(50) / 1e6), p99: round3(h.percentile(99) / 1e6), max: round3(h.max / 1e6) };
  }

  /** Values owned elsewhere (providers, windows) are read when Prometheus scrapes. */
  private registerCollectedGauges(registers: Registry[]): void {
    const self = this;
    new Gauge({
      name: 'rayleigh_frames_per_second',
      help: 'frame rate over the sliding window',
      labelNames: ['direction'],
      registers,
      collect() {
        this.set({ direction: 'in' }, self.inRate.perSecond());
        this.set({ direction: 'out' }, self.outRate.perSecond());
        this.set({ direction: 'dropped' }, self.dropRate.perSecond());
      },
    });
    new Gauge({
      name: 'rayleigh_stage_latency_quantile_seconds',
      help: 'latency percentiles over the most recent frames',
      labelNames: ['stage', 'quantile'],
      registers,
      collect() {
        this.reset();
        for (const s of STAGES) {
          const q = self.latency[s].quantiles();
          if (q.count === 0) continue;
          this.set({ stage: s, quantile: '0.5' }, (q.p50 ?? 0) / 1000);
          this.set({ stage: s, quantile: '0.95' }, (q.p95 ?? 0) / 1000);
          this.set({ stage: s, quantile: '0.99' }, (q.p99 ?? 0) / 1000);
        }
      },
    });
    new Gauge({
      name: 'rayleigh_uptime_seconds',
      help: 'seconds since the daemon started',
      registers,
      collect() {
        this.set(self.uptimeSeconds());
      },
    });
    new Gauge({
      name: 'rayleigh_build_info',
      help: 'daemon version (value is always 1)',
      labelNames: ['version'],
      registers,
      collect() {
        this.set({ version: self.version }, 1);
      },
    });
    new Gauge({
      name: 'rayleigh_streaming',
      help: '1 while the pipeline is meant to stream',
      registers,
      collect() {
        this.set((self.opts.streaming?.() ?? true) ? 1 : 0);
      },
    });
    new Gauge({
      name: 'rayleigh_selftest_score',
      help: 'score of the last closed-loop self-test (0..1)',
      registers,
      collect() {
        this.reset();
        if (self.selfTestValue) this.set(self.selfTestValue.score);
      },
    });
    new Gauge({
      name: 'rayleigh_device_faults',
      help: 'faults per hardware device since start',
      labelNames: ['device'],
      registers,
      collect() {
        this.reset();
        for (const d of safeCall(self.opts.devices) ?? []) this.set({ device: d.name }, d.faults);
      },
    });
    new Gauge({
      name: 'rayleigh_device_ok',
      help: '1 when the device reports healthy',
      labelNames: ['device'],
      registers,
      collect() {
        this.reset();
        for (const d of safeCall(self.opts.devices) ?? []) this.set({ device: d.name }, d.ok ? 1 : 0);
      },
    });
    new Gauge({
      name: 'rayleigh_broker_connected',
      help: '1 while the MQTT broker connection is up',
      registers,
      collect() {
        this.reset();
        const b = safeCall(self.opts.broker);
        if (b) this.set(b.connected ? 1 : 0);
      },
    });
    new Gauge({
      name: 'rayleigh_spool_messages',
      help: 'results waiting in the offline spool',
      registers,
      collect() {
        this.reset();
        const b = safeCall(self.opts.broker);
        if (b) this.set(b.spoolMessages);
      },
    });
    new Gauge({
      name: 'rayleigh_results_lost_total',
      help: 'results lost on the way to the broker, by reason (cumulative counts)',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        const lost = safeCall(self.opts.broker)?.lost;
        if (lost) for (const [reason, n] of Object.entries(lost)) this.set({ reason }, n);
      },
    });
    new Gauge({
      name: 'rayleigh_cpu_temperature_celsius',
      help: 'CPU / SoC temperature',
      registers,
      collect() {
        this.reset();
        const t = safeCall(self.opts.system)?.cpuTemperatureC;
        if (t !== null && t !== undefined) this.set(t);
      },
    });
    new Gauge({
      name: 'rayleigh_throttled',
      help: 'Raspberry Pi throttling flags from vcgencmd get_throttled',
      labelNames: ['flag'],
      registers,
      collect() {
        this.reset();
        const t = safeCall(self.opts.system)?.throttling;
        if (t) for (const f of THROTTLE_FLAGS) this.set({ flag: f }, t[f] ? 1 : 0);
      },
    });
  }
}

/** Providers belong to other modules; a throwing one must not take health reporting down. */
function safeCall<T>(fn: (() => T) | undefined): T | undefined {
  if (!fn) return undefined;
  try {
    return fn();
  } catch {
    return undefined;
  }
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}

let cachedVersion: string | undefined;
function packageVersion(): string {
  if (cachedVersion) return cachedVersion;
  try {
    // src/health and dist/health are both two levels below the package root
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    cachedVersion = typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    cachedVersion = '0.0.0';
  }
  return cachedVersion;
}
