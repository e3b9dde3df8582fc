import type { Command } from 'commander';
import { deepMerge, envOverrides, loadSettings, readConfigFile } from '../config/load.ts';
import { type Daemon, startDaemon } from '../controller.ts';
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
      const settings = loadSettings(o.config);
      const raw = deepMerge(o.config ? readConfigFile(o.config) : {}, envOverrides(process.env)) as Record<string, unknown>;
      const log = createLogger(settings.log.level);
      let daemon: Daemon | null = null;
      const boot = async (): Promise<Daemon> => {
        const s = loadSettings(o.config);
        const d = await startDaemon(s, {
          log,
          configFile: o.config,
          rawSettings: raw,
          onBroker: (url, embedded) => {
            const prefix = `${s.mqtt.prefix}/${s.device.id}`;
            process.stdout.write(`rayleigh: publishing to ${url}${embedded ? ' (embedded broker)' : ''} under ${prefix}/\n`);
            process.stdout.write(`rayleigh: watch with: npx rayleigh watch --url ${url}   or: mosquitto_sub -L ${url}/${prefix}/# -v\n`);
          },
        });
        d.events.once('restart', () => {
          log.info('restart requested');
          void (async () => {
            await d.stop();
            daemon = await boot();
          })().catch((e: Error) => {
            log.fatal({ err: e.message }, 'restart failed');
            process.exit(1);
          });
        });
        return d;
      };
      daemon = await boot();
      installShutdownHandlers({
        log,
        steps: () => [{ name: 'daemon', timeoutMs: 20_000, run: async () => daemon?.stop() }],
      });
    });
}
