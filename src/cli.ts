import { Command, CommanderError } from 'commander';
import { ConfigError } from './config/load.ts';
import { UserError } from './errors.ts';

/** Each command lives in src/commands/<name>.ts and registers itself on the program. */
type Register = (program: Command) => void;

const commandModules: Array<() => Promise<{ register: Register }>> = [
  // one line per command module
  () => import('./commands/simulate.ts'),
  () => import('./commands/watch.ts'),
  () => import('./commands/infer.ts'),
  () => import('./commands/eval.ts'),
  () => import('./commands/run.ts'),
  () => import('./commands/models.ts'),
  () => import('./commands/quantize.ts'),
  () => import('./commands/bench.ts'),
  () => import('./commands/calibrate.ts'),
];

async function main(argv: string[]): Promise<void> {
  const program = new Command('rayleigh')
    .description('super-resolve camera frames on the board and publish them over MQTT')
    .version(process.env.npm_package_version ?? '0.1.0')
    .showHelpAfterError()
    .exitOverride();
  for (const load of commandModules) (await load()).register(program);
  await program.parseAsync(argv);
}

/**
 * After a failed command everything it started should already be closed and the process exits by
 * itself. Should a handle still be open, exit anyway rather than hang, and say so (tests look
 * for this line: it means a part was not cleaned up).
 */
function exitEvenIfSomethingIsLeftOpen(): void {
  setTimeout(() => {
    process.stderr.write('rayleigh: exiting with handles still open (a part was not closed after the error)\n');
    process.exit(process.exitCode ?? 1);
  }, 10_000).unref();
}

main(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode;
    return;
  }
  if (err instanceof UserError || err instanceof ConfigError) {
    process.stderr.write(`rayleigh: ${err.message}\n`);
    process.exitCode = 2;
    exitEvenIfSomethingIsLeftOpen();
    return;
  }
  const e = err as Error;
  process.stderr.write(`rayleigh: ${e?.message ?? String(err)}\n`);
  if (process.env.RAYLEIGH_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
  process.exitCode = 1;
  exitEvenIfSomethingIsLeftOpen();
});
