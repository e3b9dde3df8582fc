/**
 * Is onnxruntime-node safe to load in this process? Some releases die at load or in their first
 * kernel on some boards (SIGILL on Pi CPUs without an instruction the build assumes); a signal
 * like that cannot be caught, it takes the whole daemon down. So a child process loads the
 * native runtime first, creates a session on a tiny model and runs it once; only when the child
 * reports success does the daemon load the addon itself.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { signalChild } from '../../signal-child.ts';
import { PROBE_SIDE, probeModelBytes } from './probe-model.ts';

export type NativeProbeResult =
  | { ok: true; module: string; version: string; backends: string[]; ms: number }
  | { ok: false; module: string; reason: string; signal?: string; exitCode?: number; ms: number };

export interface NativeProbeOptions {
  /**
   * Module (path, file URL or package name) the child loads instead of onnxruntime-node. Tests
   * point it at a fixture that crashes; RAYLEIGH_ORT_PROBE_MODULE does the same for a whole daemon.
   */
  module?: string;
  threads?: number;
  /** the child is killed and the probe fails after this long (a Pi 3 loads the addon in seconds) */
  timeoutMs?: number;
}

/** Environment variable that overrides the probed module (simulating a broken build end to end). */
export const PROBE_MODULE_ENV = 'RAYLEIGH_ORT_PROBE_MODULE';

const SIGNAL_MEANING: Record<string, string> = {
  SIGILL: 'illegal instruction: this CPU lacks an instruction the build uses',
  SIGSEGV: 'segmentation fault',
  SIGBUS: 'bus error',
  SIGABRT: 'aborted',
};

/**
 * The child's program. It is a constant (nothing from input is spliced in); the module URL, the
 * thread count and the model bytes arrive as argv and stdin.
 */
const CHILD_SOURCE = `
const [moduleUrl, threadsArg, sideArg] = process.argv.slice(1);
const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const model = new Uint8Array(Buffer.concat(chunks));
const mod = await import(moduleUrl);
const ort = mod.InferenceSession ? mod : mod.default;
const side = Number(sideArg);
const session = await ort.InferenceSession.create(model, {
  executionProviders: ['cpu'], intraOpNumThreads: Number(threadsArg), interOpNumThreads: 1,
  graphOptimizationLevel: 'all', logSeverityLevel: 3,
});
const x = new Float32Array(side * side).map((_, i) => (i % 9) / 9);
const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [1, 1, side, side]) });
const y = out[session.outputNames[0]].data;
if (y.length !== side * side || !y.every(Number.isFinite)) throw new Error('probe model produced a wrong output');
await session.release();
const backends = typeof ort.listSupportedBackends === 'function' ? ort.listSupportedBackends().map((b) => b.name) : ['cpu'];
process.stdout.write(JSON.stringify({ ok: true, version: ort.env?.versions?.node ?? ort.env?.versions?.common ?? 'unknown', backends }) + '\\n');
`;

function moduleUrlOf(spec: string): string {
  if (spec.startsWith('file:')) return spec;
  if (spec.startsWith('/') || spec.startsWith('.')) return pathToFileURL(spec).href;
  // a package name, resolved from here so the child does not depend on its working directory
  return pathToFileURL(createRequire(import.meta.url).resolve(spec)).href;
}

/** Spawn the probe child (no cache; see probeNativeRuntime). */
export function runNativeProbe(o: NativeProbeOptions = {}): Promise<NativeProbeResult> {
  const module = o.module ?? process.env[PROBE_MODULE_ENV] ?? 'onnxruntime-node';
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const fail = (reason: string, extra: { signal?: string; exitCode?: number } = {}): NativeProbeResult => ({
    ok: false,
    module,
    reason,
    ...extra,
    ms: elapsed(),
  });
  let url: string;
  try {
    url = moduleUrlOf(module);
  } catch (err) {
    return Promise.resolve(fail(`cannot resolve ${module}: ${(err as Error).message.split('\n')[0]}`));
  }
  const threads = String(Math.max(1, o.threads ?? 1));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD_SOURCE, url, threads, String(PROBE_SIDE)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: process.env,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      if (stderr.length < 8192) stderr += s;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      signalChild(child, 'SIGKILL');
    }, o.timeoutMs ?? 60_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve(fail(`cannot start the probe process: ${err.message}`));
    });
    // a child that dies before reading its stdin makes the write fail; 'close' reports why
    child.stdin.on('error', () => {});
    child.stdin.end(probeModelBytes());
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) return resolve(fail(`${module} did not load a model within ${o.timeoutMs ?? 60_000} ms`));
      if (signal) {
        const meaning = SIGNAL_MEANING[signal];
        return resolve(fail(`${module} crashed the probe process with ${signal}${meaning ? ` (${meaning})` : ''}`, { signal }));
      }
      const line = stdout.trim().split('\n').pop() ?? '';
      if (code === 0) {
        try {
          const r = JSON.parse(line) as { ok: boolean; version: string; backends: string[] };
          if (r.ok) return resolve({ ok: true, module, version: r.version, backends: r.backends, ms: elapsed() });
        } catch {
          // fall through: a zero exit without the report line is a failure too
        }
      }
      resolve(fail(`${module} failed in the probe process (exit ${code}): ${lastErrorLine(stderr)}`, { exitCode: code ?? undefined }));
    });
  });
}

/** The line of a Node error dump that says what went wrong ("Error: ...") or the first one. */
function lastErrorLine(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim());
  return lines.find((l) => /^[A-Za-z]*Error\b/.test(l)) ?? lines.find((l) => l.length > 0) ?? 'no output';
}

const cache = new Map<string, Promise<NativeProbeResult>>();

/**
 * The probe, run once per module per thread (each worker thread has its own cache; a main thread
 * can probe once and hand the result to its workers).
 */
export function probeNativeRuntime(o: NativeProbeOptions = {}): Promise<NativeProbeResult> {
  const key = o.module ?? process.env[PROBE_MODULE_ENV] ?? 'onnxruntime-node';
  let p = cache.get(key);
  if (!p) {
    p = runNativeProbe(o);
    cache.set(key, p);
  }
  return p;
}
