import type { Command } from 'commander';
import { patchFrom, patchKeys } from '../config/carry-over.ts';
import { deepMerge, readConfigFile, resolveSettings } from '../config/load.ts';
import { type Daemon, StartAborted, startDaemon } from '../controller.ts';
import { installFatalHandlers } from '../health/fatal.ts';
import { installShutdownHandlers } from '../health/lifecycle.ts';
import { createLogger } from '../log.ts';

interface RunOptions {
  config?: string;
}

export function register(program: Command): void {
  program
    .command('run')
    .description('run the daemon (no config: simulated camera, DMD and embedded MQTT broker)')
    .option('--config <file>', 'YAML settings file (env RAYLEIGH_<SECTION>__<KEY> overrides it)')
    .action(async (o: RunOptions) => {
      // read on every boot: a restart picks up what set_config persisted
      const written = (): Record<string, unknown> => (o.config ? (readConfigFile(o.config) as Record<string, unknown>) : {});
      const log = createLogger(resolveSettings(written()).log.level);
      let daemon: Daemon | null = null;
      let booting: Promise<Daemon> | null = null;
      // a stop (signal, fatal error) that arrives while a start runs ends that start, which then
      // closes what it opened: the stage parks and the DMD blanks either way
      const stopRequested = new AbortController();
      const stopDaemon = async (drain: boolean): Promise<void> => {
        stopRequested.abort();
        const d =
          daemon ??
          (await booting?.catch((e: unknown) => {
            if (e instanceof StartAborted) log.info('stopped while starting; what had started is closed');
            return null;
          })) ??
          null;
        await d?.stop({ drain });
      };
      const boot = async (carried: Record<string, unknown> = {}): Promise<Daemon> => {
        const file = deepMerge(written(), carried) as Record<string, unknown>;
        const s = resolveSettings(file);
        const d = await startDaemon(s, {
          log,
          configFile: o.config,
          writtenSettings: file,
          abort: stopRequested.signal,
          onBroker: (url, embedded) => {
            const prefix = `${s.mqtt.prefix}/${s.device.id}`;
            process.stdout.write(`rayleigh: publishing to ${url}${embedded ? ' (embedded broker)' : ''} under ${prefix}/\n`);
            process.stdout.write(`rayleigh: watch with: npx rayleigh watch --url ${url}   or: mosquitto_sub -L ${url}/${prefix}/# -v\n`);
          },
        });
        d.events.once('restart', () => {
          // non-persisted set_config changes survive the restart they asked for
          const carried = patchFrom(resolveSettings(written()), d.settings);
          const kept = patchKeys(carried);
          log.info(kept.length ? { kept } : {}, kept.length ? 'restart requested; keeping unpersisted settings' : 'restart requested');
          void (async () => {
            await d.stop();
            daemon = null;
            booting = boot(carried);
            daemon = await booting;
          })().catch((e: Error) => {
            if (e instanceof StartAborted) return; // stopped while restarting: the stop handler exits
            log.fatal({ err: e.message }, 'restart failed');
            process.exit(1);
          });
        });
        return d;
      };
      // the daemon's stop parks the stage and blanks the DMD; drain nothing on a fatal path
      installFatalHandlers({ log, steps: () => [{ name: 'daemon', timeoutMs: 15_000, run: () => stopDaemon(false) }] });
      installShutdownHandlers({
        log,
        steps: () => [
          {
            // set_config changes made without persist end with this process: say which
            name: 'report unpersisted settings',
            timeoutMs: 1000,
            run: () => {
              if (!daemon) return;
              const lost = patchKeys(patchFrom(resolveSettings(written()), daemon.settings));
              if (lost.length) log.warn({ lost }, 'set_config changes not persisted are lost with this exit');
            },
          },
          { name: 'daemon', timeoutMs: 20_000, run: () => stopDaemon(true) },
        ],
      });
      booting = boot();
      try {
        daemon = await booting;
      } catch (e) {
        // the shutdown handler that asked for it exits once the parts are closed
        if (e instanceof StartAborted) return;
        throw e;
      }
      // a stop that came after the start's last step: the handler is already waiting on `booting`
    });
}
