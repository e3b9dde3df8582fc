import { EventEmitter } from 'node:events';
import { renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import type { FrameSource } from './camera/types.ts';
import { patchFrom, patchKeys } from './config/carry-over.ts';
import { deepMerge, resolveSettings } from './config/load.ts';
import { liveSettingsPaths } from './config/remote-policy.ts';
import type { Settings } from './config/schema.ts';
import { UserError } from './errors.ts';
import { homeStage, moveStage, resetEstop, showPattern } from './hardware/device-commands.ts';
import type { OpenedDmd } from './hardware/dmd/open.ts';
import { FaultRegistry } from './hardware/faults.ts';
import type { CreatedStage } from './hardware/stage/index.ts';
import { brokerFromMqtt, devicesFromFaults } from './health/adapters.ts';
import type { Metrics } from './health/metrics.ts';
import { type HealthServices, startHealth } from './health/service.ts';
import { createReconstructor } from './inference/registry.ts';
import type { Reconstructor } from './inference/types.ts';
import { type Instrument, openInstrument } from './instrument.ts';
import { readImage } from './io/image-file.ts';
import type { Logger } from './log.ts';
import type { MqttStack } from './mqtt/index.ts';
import { type DeviceApi, redactMqttConfig, type SetConfigResult, startMqtt } from './mqtt/index.ts';
import { type CommandParams, commandParamSchemas, toAccumulatedMeta } from './mqtt/payloads.ts';
import { FitsResultWriter } from './pipeline/fits-output.ts';
import { type ImageProducts, Pipeline } from './pipeline/pipeline.ts';
import type { Calibration } from './pipeline/preprocess.ts';
import { checkCalibration } from './pipeline/preprocess.ts';
import { runSelfTest, SELFTEST_DEFAULTS } from './selftest.ts';
import { modelStartError, StartedParts } from './startup.ts';
import { type CommandHandler, startDashboard, type WebServer } from './web/server.ts';

/**
 * The daemon: wires independent parts, each with its own start/stop, in this order —
 * MQTT (so the broker URL is known and announced first), devices, model, pipeline, health, dashboard.
 * Nothing here knows a protocol; it only routes commands to the part that owns them.
 */
export interface Daemon {
  readonly url: string;
  /** the dashboard's URL, when it is running */
  readonly webUrl: string | null;
  /** what the next (re)start uses: the running settings plus set_config changes pending a restart */
  readonly settings: Settings;
  /** the settings in effect now */
  readonly running: Settings;
  readonly pipeline: Pipeline;
  readonly metrics: Metrics;
  readonly api: DeviceApi;
  readonly events: EventEmitter<{ restart: [] }>;
  stop(opts?: { drain?: boolean }): Promise<void>;
}

export interface DaemonOptions {
  log: Logger;
  /** where set_config {persist: true} writes */
  configFile?: string;
  /**
   * settings as written in the config file, without env overrides: patches persist onto this,
   * so secrets given through the environment never end up in the file
   */
  writtenSettings?: Record<string, unknown>;
  /** called once the broker URL is known, before anything slower starts */
  onBroker?: (url: string, embedded: boolean) => void;
  /**
   * a stop asked for while starting (SIGTERM during boot): the start ends at its next step and
   * closes what it opened (the stage parks, the DMD blanks) instead of finishing first
   */
  abort?: AbortSignal;
}

/** The start was abandoned because a stop was asked for while it ran. */
export class StartAborted extends Error {
  constructor() {
    super('start abandoned: a stop was requested while starting');
  }
}

function changedKeys(a: unknown, b: unknown, prefix = ''): string[] {
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) =>
      changedKeys((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], prefix ? `${prefix}.${k}` : k),
    );
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix];
}

/** Secrets masked: what get_config may show. */
function redactSettings(s: Settings): Settings {
  return { ...s, mqtt: redactMqttConfig(s.mqtt), web: { ...s.web, token: s.web.token ? '***' : undefined } };
}

function valueAt(o: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>((v, k) => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined), o);
}

/** `base` with the value at `path` taken from `from` (copy on write along the path). */
function withValueAt<T>(base: T, path: readonly string[], from: unknown): T {
  if (path.length === 0) return valueAt(from, []) as T;
  const [k, ...rest] = path;
  const b = (base ?? {}) as Record<string, unknown>;
  return { ...b, [k]: withValueAt(b[k], rest, (from as Record<string, unknown> | undefined)?.[k]) } as T;
}

/**
 * How the daemon applies each setting marked `live` in the schema (src/config/*.ts). The marks are
 * the source of truth; start-up fails when a marked key has no applier here, so a mark can never
 * promise what the daemon does not do. Fallible appliers first: a set_config whose model cannot
 * load changes nothing.
 */
type LiveApplier = (next: Settings) => Promise<void> | void;

function checkAppliers(appliers: ReadonlyMap<string, LiveApplier>): void {
  const marked = liveSettingsPaths().map((p) => p.join('.'));
  const missing = marked.filter((k) => !appliers.has(k));
  const unmarked = [...appliers.keys()].filter((k) => !marked.includes(k));
  if (missing.length || unmarked.length) {
    throw new Error(
      `live settings and their appliers disagree: no applier for [${missing.join(', ')}], not marked live [${unmarked.join(', ')}]`,
    );
  }
}

/** What each frame may carry besides its localisations, from the settings. */
function imageProducts(s: Settings): ImageProducts {
  const { image, accumulate } = s.pipeline;
  return {
    image: { ...image, enabled: image.enabled && image.maxRate > 0 },
    accumulate,
    previews: s.web.enabled ? { everyMs: 500, maxEdge: 512, gamma: 0.5 } : undefined,
    bytesPerSecond: s.mqtt.results.maxBytesPerSecond,
  };
}

async function loadCalibration(s: Settings): Promise<Calibration> {
  const cal: Calibration = {};
  try {
    if (s.pipeline.preprocess.dark) cal.dark = await readImage(s.pipeline.preprocess.dark);
    if (s.pipeline.preprocess.flat) cal.flat = await readImage(s.pipeline.preprocess.flat);
    if (s.pipeline.preprocess.readNoise) cal.readNoise = await readImage(s.pipeline.preprocess.readNoise);
    checkCalibration(cal);
  } catch (e) {
    throw new UserError(`pipeline.preprocess: ${(e as Error).message}`);
  }
  return cal;
}

export async function startDaemon(settings: Settings, opts: DaemonOptions): Promise<Daemon> {
  const log = opts.log;
  const faults = new FaultRegistry();
  const events = new EventEmitter<{ restart: [] }>();
  /** the settings in effect */
  let running = settings;
  /** what the next (re)start will use: `running` plus the changes that wait for it */
  let desired = settings;
  let writtenSettings = opts.writtenSettings ?? {};
  const stopping: { v: boolean } = { v: false };

  // Parts are created below; the API closes over these bindings.
  let instrument: Instrument;
  let dmd: OpenedDmd | null = null;
  let stage: CreatedStage = { stage: null };
  let source: FrameSource;
  let pipeline: Pipeline;
  let health: HealthServices;
  let web: WebServer | null = null;
  let mqtt: MqttStack;
  let dmdTimer: NodeJS.Timeout | null = null;

  const requireDmd = (): NonNullable<typeof dmd> => {
    if (!dmd) throw new UserError('no DMD configured (hardware.dmd.type is "none" or it failed to open)');
    return dmd;
  };
  const requireStage = () => {
    if (!stage.stage) throw new UserError('no stage configured (hardware.stage.type is "none")');
    return stage.stage;
  };

  const swapModel = async (id: string): Promise<Reconstructor> => {
    // Load first: a model that fails (missing, hash mismatch, bad graph) leaves the running one in place.
    const next = await createReconstructor(id, running, log);
    const old = pipeline.setReconstructor(next);
    health.metrics.setModel({ id: next.id, hash: next.fingerprint, provider: next.provider, runtime: next.runtime });
    await old.close().catch(() => undefined);
    return next;
  };

  const appliers = new Map<string, LiveApplier>([
    [
      'inference.model',
      async (next) => {
        if (next.inference.model !== pipeline.reconstructor.id) await swapModel(next.inference.model);
      },
    ],
    [
      'pipeline.postprocess',
      (next) => {
        pipeline.postprocessOptions = next.pipeline.postprocess;
      },
    ],
    [
      'pipeline.holes',
      (next) => {
        pipeline.holeSettings = next.pipeline.holes;
      },
    ],
  ]);
  checkAppliers(appliers);

  const api: DeviceApi = {
    getConfig: () => {
      const r = redactSettings(running);
      const pending = patchFrom(r, redactSettings(desired));
      return {
        running: r,
        /** accepted by set_config, applied at the next (re)start; persisted when set with persist */
        pending,
        pendingKeys: patchKeys(pending),
        liveKeys: liveSettingsPaths().map((k) => k.join('.')),
      };
    },
    async setConfig(p: CommandParams<'set_config'>): Promise<SetConfigResult> {
      if (p.patch.mqtt && typeof p.patch.mqtt === 'object' && 'password' in (p.patch.mqtt as object)) {
        throw new UserError('mqtt.password cannot be set over MQTT; use passwordFile or the environment');
      }
      if (p.persist && !opts.configFile) throw new UserError('the daemon was started without --config, so there is no file to persist to');
      const nextWritten = deepMerge(writtenSettings, p.patch) as Record<string, unknown>;
      const next = resolveSettings(nextWritten);
      const changed = changedKeys(desired, next);
      // live keys this patch changes take effect now (in the appliers' order); the rest wait for a restart
      const applied: string[] = [];
      for (const [key, apply] of appliers) {
        const path = key.split('.');
        if (!changed.some((k) => k === key || k.startsWith(`${key}.`))) continue;
        if (JSON.stringify(valueAt(running, path)) === JSON.stringify(valueAt(next, path))) continue;
        await apply(next);
        running = withValueAt(running, path, next);
        applied.push(key);
      }
      if (p.persist && opts.configFile) {
        const tmp = `${opts.configFile}.tmp`;
        writeFileSync(tmp, toYaml(nextWritten));
        renameSync(tmp, opts.configFile);
      }
      writtenSettings = nextWritten;
      desired = next;
      const pendingRestart = changedKeys(running, desired);
      return { restartRequired: pendingRestart.length > 0, changed, applied, pendingRestart };
    },
    async selectModel(p) {
      const r = await swapModel(p.model);
      // what runs, not what the next start loads: get_config then shows the configured model as pending
      running = { ...running, inference: { ...running.inference, model: r.id } };
      return { model: r.id, fingerprint: r.fingerprint, provider: r.provider, scale: r.scale };
    },
    async capture(p) {
      const out = [];
      for (let i = 0; i < p.count; i++) {
        // while streaming, the capture is the stream's next frame: processing it again would
        // publish it twice and count more frames out than came in
        const r = pipeline.streaming ? await pipeline.nextResult() : await pipeline.processOne(await source.capture());
        out.push({ seq: r.seq, localizations: r.localizations.count, timings: r.timings });
      }
      return { frames: out };
    },
    async start() {
      if (pipeline.streaming) return { streaming: true, already: true };
      await pipeline.start(source);
      return { streaming: true };
    },
    async stop() {
      await pipeline.stop({ drain: true });
      return { streaming: false };
    },
    async renderAccumulated(p, ctx) {
      if (!pipeline.streaming)
        throw new UserError("not streaming: the accumulated render is made by the stream's next frame (send start first)");
      const { stream: _stream, ...request } = p;
      const r = await pipeline.requestAccumulated(request, ctx?.signal);
      const meta = toAccumulatedMeta(r);
      return { topic: mqtt.client.topics.resultAccumulated(r.stream), ...meta };
    },
    async dmdShow(p, ctx) {
      const d = requireDmd();
      if (dmdTimer) clearTimeout(dmdTimer);
      const mask = await showPattern(d.dmd, p.pattern, ctx?.signal);
      if (p.durationMs) {
        dmdTimer = setTimeout(() => {
          d.dmd.blank().catch((e: Error) => log.warn({ err: e.message }, 'DMD blank failed'));
        }, p.durationMs);
        dmdTimer.unref();
      }
      return { shown: p.pattern.kind, points: mask.points.length, width: mask.width, height: mask.height };
    },
    stageMove: (p, ctx) => moveStage(requireStage(), p, ctx?.signal),
    stageHome: (p, ctx) => homeStage(requireStage(), p.axes, ctx?.signal),
    estopReset: () => resetEstop(stage.stage),
    async estop() {
      stage.stage?.estop();
      await dmd?.dmd.stop().catch(() => undefined);
      mqtt.publisher.event({ type: 'estop', severity: 'warning', message: 'emergency stop: stage halted, DMD stopped' });
      return { stage: stage.stage ? 'halted' : 'none', dmd: dmd ? 'stopped' : 'none' };
    },
    async selftest(p) {
      const d = requireDmd();
      const report = await runSelfTest(
        { dmd: d.dmd, source, pipeline, mapping: instrument.mapping(), camera: instrument.camera },
        { ...SELFTEST_DEFAULTS, patterns: p.patterns, seed: Date.now() % 1_000_000 },
      );
      health.metrics.setSelfTest({ score: report.score, at: Date.now(), passed: report.passed });
      mqtt.publisher.event({
        type: 'selftest',
        severity: report.passed ? 'info' : 'warning',
        message: `self-test score ${report.score.toFixed(3)}`,
        data: report,
      });
      return report;
    },
    restart(p) {
      setTimeout(() => events.emit('restart'), p.delayMs).unref();
      return { restartingInMs: p.delayMs };
    },
  };

  /** The dashboard's buttons: the same handlers as the MQTT commands, the harmless ones only. */
  const dashboardCommand: CommandHandler = async (name, args) => {
    const signal = AbortSignal.timeout(running.mqtt.commands.timeoutMs);
    switch (name) {
      case 'capture':
        return api.capture({ count: 1 }, { signal });
      case 'selftest':
        // the dashboard's self-test lights the DMD: it obeys the MQTT e-stop latch too
        if (mqtt.commands?.stats().estopped) throw new UserError('emergency stop is latched: send estop_reset first');
        return api.selftest({ patterns: SELFTEST_DEFAULTS.patterns }, { signal });
      case 'start':
        return api.start({}, { signal });
      case 'stop':
        return api.stop({}, { signal });
      case 'render_accumulated': {
        const p = commandParamSchemas.render_accumulated.safeParse(args);
        if (!p.success)
          throw new UserError(`invalid parameters for render_accumulated: ${p.error.issues.map((i) => i.message).join('; ')}`);
        return api.renderAccumulated(p.data, { signal });
      }
    }
  };

  // 1. MQTT first: the broker URL is the first thing a user needs.
  mqtt = await startMqtt(settings, { api, logger: log.child({ part: 'mqtt' }), swVersion: process.env.npm_package_version });
  const started = new StartedParts();
  started.add('mqtt', () => mqtt.stop());
  opts.onBroker?.(mqtt.url, mqtt.broker !== undefined);

  const checkpoint = (): void => {
    if (opts.abort?.aborted) throw new StartAborted();
  };
  try {
    // 2. Devices.
    checkpoint();
    instrument = await openInstrument(settings, log, faults);
    started.add('instrument', () => instrument.close());
    dmd = instrument.dmd;
    stage = instrument.stage;
    source = instrument.source;

    // 3. Model: fall back to Richardson–Lucy rather than refuse to run.
    checkpoint();
    let recon: Reconstructor;
    try {
      recon = await createReconstructor(settings.inference.model, settings, log);
    } catch (e) {
      if (settings.inference.fallback !== 'rl') throw modelStartError(settings.inference.model, e);
      log.error({ err: (e as Error).message, model: settings.inference.model }, 'model not loaded; using Richardson–Lucy');
      faults.record('model', e);
      recon = await createReconstructor('rl', settings, log);
    }
    started.add('model', () => recon.close());
    log.info({ model: recon.id, provider: recon.provider, fingerprint: recon.fingerprint.slice(0, 16) }, 'reconstruction engine ready');

    // 4. Pipeline.
    checkpoint();
    const fitsCfg = settings.pipeline.fits;
    const fitsWriter = fitsCfg.enabled
      ? new FitsResultWriter({ dir: resolve(settings.stateDir, fitsCfg.dir), keep: fitsCfg.keep }, log.child({ part: 'fits' }))
      : undefined;
    pipeline = new Pipeline({
      fits: fitsWriter
        ? { maxRate: fitsCfg.maxRate, maxPixels: fitsCfg.maxPixels, write: (r, bytes) => fitsWriter.write(r, bytes) }
        : undefined,
      stream: settings.pipeline.stream,
      queueSize: settings.pipeline.queueSize,
      reconstructor: recon,
      postprocess: settings.pipeline.postprocess,
      holes: settings.pipeline.holes,
      calibration: await loadCalibration(settings),
      sinks: [mqtt.publisher],
      products: imageProducts(settings),
      sensor: { roi: settings.camera.roi, binning: settings.camera.binning },
      photometry: settings.camera.photometry,
      onOutOfRange: (e) =>
        mqtt.publisher.event({
          type: e.inRange ? 'in_range' : 'out_of_range',
          severity: e.inRange ? 'info' : 'warning',
          message: e.inRange
            ? `frames are back inside the model's trained ranges (from seq ${e.seq})`
            : `frames are outside the model's trained ranges: do not trust the output (${e.flags.map((f) => f.reason).join('; ')})`,
          data: { seq: e.seq, flags: e.flags },
        }),
      log: log.child({ part: 'pipeline' }),
    });

    // 5. Health and watchdog, then the dashboard that shows them.
    checkpoint();
    health = await startHealth({
      settings,
      log: log.child({ part: 'health' }),
      progress: () => {
        const s = pipeline.stats();
        return { framesOut: s.framesOut, streaming: s.streaming, frameMs: s.sustainableFps > 0 ? 1000 / s.sustainableFps : undefined };
      },
      pipeline: () => pipeline.stats(),
      devices: () => devicesFromFaults(faults.snapshot(), ['camera', ...(dmd ? ['dmd'] : []), ...(stage.stage ? ['stage'] : [])]),
      commandCounters: () => mqtt.commands?.stats() ?? null,
      broker: () => {
        const pub = mqtt.publisher.stats();
        return brokerFromMqtt(mqtt.client.state(), pub.spool, pub);
      },
      publishHealth: (p) => {
        const cam = source.stats();
        health.metrics.setCameraRestartsTotal(cam.restarts);
        if (cam.dropped !== undefined) health.metrics.setCameraDroppedTotal(cam.dropped);
        mqtt.publisher.health(p as unknown as Record<string, unknown>);
      },
    });
    started.add('health', () => health.stop());
    health.metrics.setModel({ id: recon.id, hash: recon.fingerprint, provider: recon.provider, runtime: recon.runtime });
    pipeline.addSink(health.sink);
    if (settings.web.enabled) {
      web = await startDashboard({
        host: settings.web.host,
        port: settings.web.port,
        token: settings.web.token,
        health: health.metrics,
        commands: dashboardCommand,
        log: log.child({ part: 'web' }),
      });
      const dashboard = web;
      if (dashboard) {
        started.add('web', () => dashboard.close());
        pipeline.addSink(dashboard);
      }
    }

    started.add('pipeline', () => pipeline.stop({ drain: false }));
    checkpoint();
    if (settings.pipeline.autostart) await pipeline.start(source);
    await health.ready(pipeline.streaming ? 'streaming' : 'idle');
  } catch (e) {
    await started.unwind(log);
    throw e;
  }

  return {
    url: mqtt.url,
    webUrl: web?.url ?? null,
    get settings() {
      return desired;
    },
    get running() {
      return running;
    },
    pipeline,
    metrics: health.metrics,
    api,
    events,
    async stop(o = {}) {
      if (stopping.v) return;
      stopping.v = true;
      if (dmdTimer) clearTimeout(dmdTimer);
      await health.notifier.stopping().catch(() => undefined);
      await pipeline.stop({ drain: o.drain ?? true });
      await instrument.close();
      await pipeline.reconstructor.close().catch(() => undefined);
      await web?.close().catch(() => undefined);
      await health.stop().catch(() => undefined);
      await mqtt.stop();
    },
  };
}
