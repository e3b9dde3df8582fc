import { EventEmitter } from 'node:events';
import { renameSync, writeFileSync } from 'node:fs';
import { stringify as toYaml } from 'yaml';
import type { FrameSource } from './camera/types.ts';
import { deepMerge, resolveSettings } from './config/load.ts';
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
import type { CommandParams } from './mqtt/payloads.ts';
import { type ImageProducts, Pipeline } from './pipeline/pipeline.ts';
import type { Calibration } from './pipeline/preprocess.ts';
import { checkCalibration } from './pipeline/preprocess.ts';
import { runSelfTest, SELFTEST_DEFAULTS } from './selftest.ts';
import { modelStartError, StartedParts } from './startup.ts';

/**
 * The daemon: wires independent parts, each with its own start/stop, in this order —
 * MQTT (so the broker URL is known and announced first), devices, model, pipeline, health.
 * Nothing here knows a protocol; it only routes commands to the part that owns them.
 */
export interface Daemon {
  readonly url: string;
  readonly settings: Settings;
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
}

/** Settings whose change set_config applies to the running daemon; anything else needs a restart. */
const HOT_KEYS = new Set(['pipeline.postprocess', 'pipeline.holes', 'inference.model']);

function changedKeys(a: unknown, b: unknown, prefix = ''): string[] {
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) =>
      changedKeys((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], prefix ? `${prefix}.${k}` : k),
    );
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix];
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
  let current = settings;
  let writtenSettings = opts.writtenSettings ?? {};
  const stopping: { v: boolean } = { v: false };

  // Parts are created below; the API closes over these bindings.
  let instrument: Instrument;
  let dmd: OpenedDmd | null = null;
  let stage: CreatedStage = { stage: null };
  let source: FrameSource;
  let pipeline: Pipeline;
  let health: HealthServices;
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
    const next = await createReconstructor(id, current, log);
    const old = pipeline.setReconstructor(next);
    health.metrics.setModel({ id: next.id, hash: next.fingerprint, provider: next.provider, runtime: next.runtime });
    await old.close().catch(() => undefined);
    return next;
  };

  const api: DeviceApi = {
    getConfig: () => ({
      ...current,
      mqtt: redactMqttConfig(current.mqtt),
      web: { ...current.web, token: current.web.token ? '***' : undefined },
    }),
    async setConfig(p: CommandParams<'set_config'>): Promise<SetConfigResult> {
      if (p.patch.mqtt && typeof p.patch.mqtt === 'object' && 'password' in (p.patch.mqtt as object)) {
        throw new UserError('mqtt.password cannot be set over MQTT; use passwordFile or the environment');
      }
      if (p.persist && !opts.configFile) throw new UserError('the daemon was started without --config, so there is no file to persist to');
      const nextWritten = deepMerge(writtenSettings, p.patch) as Record<string, unknown>;
      const next = resolveSettings(nextWritten);
      const changed = changedKeys(current, next);
      const needsRestart = changed.filter((k) => ![...HOT_KEYS].some((h) => k === h || k.startsWith(`${h}.`)));
      if (changed.some((k) => k.startsWith('inference.model')) && next.inference.model !== pipeline.reconstructor.id) {
        await swapModel(next.inference.model);
      }
      pipeline.postprocessOptions = next.pipeline.postprocess;
      pipeline.holeSettings = next.pipeline.holes;
      if (p.persist && opts.configFile) {
        const tmp = `${opts.configFile}.tmp`;
        writeFileSync(tmp, toYaml(nextWritten));
        renameSync(tmp, opts.configFile);
      }
      writtenSettings = nextWritten;
      // Keys that need a restart are reported now and take effect on the next (re)start.
      current = next;
      return { restartRequired: needsRestart.length > 0, changed, pendingRestart: needsRestart };
    },
    async selectModel(p) {
      const r = await swapModel(p.model);
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

  // 1. MQTT first: the broker URL is the first thing a user needs.
  mqtt = await startMqtt(settings, { api, logger: log.child({ part: 'mqtt' }), swVersion: process.env.npm_package_version });
  const started = new StartedParts();
  started.add('mqtt', () => mqtt.stop());
  opts.onBroker?.(mqtt.url, mqtt.broker !== undefined);

  try {
    // 2. Devices.
    instrument = await openInstrument(settings, log, faults);
    started.add('instrument', () => instrument.close());
    dmd = instrument.dmd;
    stage = instrument.stage;
    source = instrument.source;

    // 3. Model: fall back to Richardson–Lucy rather than refuse to run.
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
    pipeline = new Pipeline({
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

    // 5. Health, dashboard, watchdog.
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
      commands: async (name) => {
        switch (name) {
          case 'capture':
            return api.capture({ count: 1 });
          case 'selftest':
            // the dashboard's self-test lights the DMD: it obeys the MQTT e-stop latch too
            if (mqtt.commands?.stats().estopped) throw new UserError('emergency stop is latched: send estop_reset first');
            return api.selftest({ patterns: SELFTEST_DEFAULTS.patterns });
          case 'start':
            return api.start({});
          case 'stop':
            return api.stop({});
        }
      },
      publishHealth: (p) => {
        health.metrics.setCameraRestartsTotal(source.stats().restarts);
        mqtt.publisher.health(p as unknown as Record<string, unknown>);
      },
    });
    started.add('health', () => health.stop());
    health.metrics.setModel({ id: recon.id, hash: recon.fingerprint, provider: recon.provider, runtime: recon.runtime });
    pipeline.addSink(health.sink);

    started.add('pipeline', () => pipeline.stop({ drain: false }));
    if (settings.pipeline.autostart) await pipeline.start(source);
    await health.ready(pipeline.streaming ? 'streaming' : 'idle');
  } catch (e) {
    await started.unwind(log);
    throw e;
  }

  return {
    url: mqtt.url,
    get settings() {
      return current;
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
      await health.stop().catch(() => undefined);
      await mqtt.stop();
    },
  };
}
