import type { Settings } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { ResultSink } from '../pipeline/types.ts';
import {
  type BrokerStatus,
  type CommandCounters,
  type DeviceStatus,
  type HealthPayload,
  Metrics,
  type PipelineCounters,
} from './metrics.ts';
import { SystemMonitor } from './system.ts';
import { type Notifier, SystemdNotifier, watchdogIntervalMs } from './systemd-notify.ts';
import { Watchdog, type WatchdogProgress } from './watchdog.ts';

export interface HealthDeps {
  settings: Pick<Settings, 'device' | 'health' | 'systemd'>;
  log: Logger;
  /** pipeline progress for the watchdog, e.g. from Pipeline.stats() */
  progress: () => WatchdogProgress;
  /** the pipeline's counters (their one owner), read by every health snapshot and scrape */
  pipeline?: () => PipelineCounters;
  devices?: () => DeviceStatus[];
  broker?: () => BrokerStatus | null;
  /** the MQTT command queue's counters */
  commandCounters?: () => CommandCounters | null;
  /** called every health.interval with the payload for the retained …/health topic; must not throw */
  publishHealth?: (payload: HealthPayload) => void;
  env?: NodeJS.ProcessEnv;
  /** override for tests; default: SystemdNotifier from env + settings.systemd.notify */
  notifier?: Notifier;
  /** sysfs root for tests */
  sysRoot?: string;
}

export interface HealthServices {
  metrics: Metrics;
  notifier: Notifier;
  watchdog: Watchdog | null;
  system: SystemMonitor;
  /** add to the pipeline's sinks: feeds the metrics */
  sink: ResultSink;
  /** once the pipeline runs: READY=1 and the watchdog starts */
  ready(status?: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Everything this module offers, wired the way the daemon needs it: metrics hub, board sensors,
 * periodic health publication and systemd READY/WATCHDOG/STATUS. The dashboard (src/web/) reads
 * the metrics; the controller starts it.
 */
export async function startHealth(deps: HealthDeps): Promise<HealthServices> {
  const { settings, log } = deps;
  const system = new SystemMonitor({ sysRoot: deps.sysRoot, intervalMs: Math.max(1000, settings.health.interval * 1000), log });
  await system.start();
  try {
    return await startHealthParts(deps, system);
  } catch (e) {
    // nothing started here may outlive a failed start
    system.stop();
    throw e;
  }
}

async function startHealthParts(deps: HealthDeps, system: SystemMonitor): Promise<HealthServices> {
  const { settings, log } = deps;
  const env = deps.env ?? process.env;
  const streaming = (): boolean => {
    try {
      return deps.progress().streaming;
    } catch {
      return false;
    }
  };
  const metrics = new Metrics({
    deviceId: settings.device.id,
    devices: deps.devices,
    broker: deps.broker,
    commands: deps.commandCounters,
    system: () => system.snapshot(),
    streaming,
    pipeline: deps.pipeline,
  });
  const notifier = deps.notifier ?? new SystemdNotifier({ env, enabled: settings.systemd.notify, log });
  const petMs = notifier.enabled ? watchdogIntervalMs(env) : null;
  const watchdog =
    petMs === null
      ? null
      : new Watchdog({ notifier, progress: deps.progress, stallSeconds: settings.systemd.stallSeconds, intervalMs: petMs, log });

  const tick = (): void => {
    const payload = metrics.snapshot();
    try {
      deps.publishHealth?.(payload);
    } catch (err) {
      log.warn({ err }, 'health publication failed');
    }
    if (notifier.enabled && !watchdog?.stalled) {
      void notifier.status(
        `${payload.streaming ? 'streaming' : 'stopped'} ${payload.frames.outPerSecond.toFixed(1)} fps, model ${payload.model?.id ?? 'none'}`,
      );
    }
  };
  const healthTimer = setInterval(tick, settings.health.interval * 1000);
  healthTimer.unref();

  const sink: ResultSink = {
    publish(result) {
      metrics.observeResult(result);
    },
  };

  return {
    metrics,
    notifier,
    watchdog,
    system,
    sink,
    async ready(status = 'running') {
      await notifier.ready(status);
      watchdog?.start();
      tick();
    },
    async stop() {
      clearInterval(healthTimer);
      watchdog?.stop();
      system.stop();
      metrics.close();
    },
  };
}
