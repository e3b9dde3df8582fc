import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * How to start a worker thread whose code is `<name>.ts` next to the caller when running from
 * sources (tsx) and `<name>.js` in the compiled dist. A TypeScript worker gets a tiny eval'd
 * bootstrap that registers tsx's loader in its own thread first (execArgv --import is not
 * honoured by every Node/test-runner combination).
 */
/**
 * Resource limits for the project's pixel workers (engine, simulated camera): their pixels live
 * in typed arrays outside the V8 heap, and a small young generation keeps each thread's own heap
 * (it grows to tens of MB of semi-spaces otherwise) in proportion.
 */
export const PIXEL_WORKER_LIMITS = { maxYoungGenerationSizeMb: 8 } as const;

export function workerEntry(callerUrl: string, name: string): { spec: string | URL; eval: boolean } {
  const fromSource = callerUrl.endsWith('.ts');
  if (!fromSource) return { spec: new URL(`./${name}.js`, callerUrl), eval: false };
  // the ESM entry of tsx/esm/api (require.resolve would pick the CommonJS one)
  const pkgPath = createRequire(callerUrl).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  const tsxApi = pathToFileURL(join(dirname(pkgPath), pkg.exports['./esm/api'].import.default)).href;
  const worker = new URL(`./${name}.ts`, callerUrl).href;
  const boot = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(worker)}); })`;
  return { spec: boot, eval: true };
}
