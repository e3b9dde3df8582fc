import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { inferenceSchema } from '../../../src/config/pipeline.ts';
import { WorkerEngine } from '../../../src/inference/engine.ts';
import { normaliseInput } from '../../../src/inference/normalise.ts';
import { PROVIDER_TYPES } from '../../../src/inference/providers.ts';
import { summariseOptimizedGraph } from '../../../src/inference/quantize/inspect.ts';
import { loadModel } from '../../../src/inference/registry.ts';
import { type ModelSession, openModelSession, PROBE_MODULE_ENV } from '../../../src/inference/runtime/index.ts';
import { runNativeProbe } from '../../../src/inference/runtime/native-probe.ts';
import { probeModelBytes } from '../../../src/inference/runtime/probe-model.ts';
import { relativeL2, spotFrame } from './helpers.ts';

const sigill = new URL('./fixtures/sigill-runtime.mjs', import.meta.url).pathname;
const broken = new URL('./fixtures/broken-runtime.mjs', import.meta.url).pathname;
const modelBytes = (file: string) => new Uint8Array(readFileSync(new URL(`../../../models-int8/${file}`, import.meta.url)));
const io = { inputName: 'input', outputName: 'output', threads: 2 };

describe('native runtime probe (child process)', () => {
  it('passes for the installed onnxruntime-node and lists its backends', async () => {
    const r = await runNativeProbe({ threads: 1 });
    expect(r).toMatchObject({ ok: true, module: 'onnxruntime-node' });
    if (r.ok) expect(r.backends).toContain('cpu');
  });

  it('runs a model that exercises the float and the int8 convolution kernels', async () => {
    const g = await summariseOptimizedGraph(probeModelBytes());
    expect([g.floatConvs, g.qlinearConvs]).toEqual([1, 1]);
  });

  it('reports a build that dies with SIGILL at load, and the test process survives', async () => {
    const r = await runNativeProbe({ module: sigill });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.signal).toBe('SIGILL');
      expect(r.reason).toMatch(/SIGILL \(illegal instruction/);
    }
  });

  it('reports a build whose import throws, with the error line', async () => {
    const r = await runNativeProbe({ module: broken });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.exitCode).toBe(1);
      expect(r.reason).toMatch(/exit 1\).*libonnxruntime\.so\.1: cannot open shared object file/);
    }
  });
});

describe('openModelSession', () => {
  const open: ModelSession[] = [];
  afterEach(async () => {
    for (const s of open.splice(0)) await s.release();
  });

  it('falls back to WASM when the native probe dies with SIGILL, and says why', async () => {
    const s = await openModelSession(modelBytes('damn-int8.onnx'), { ...io, provider: 'cpu', probeModule: sigill });
    open.push(s);
    expect(s.runtime).toBe('wasm');
    expect(s.provider).toBe('wasm');
    expect(s.report.requested).toBe('cpu');
    expect(s.report.engine).toMatch(/^onnxruntime-web 1\.30\./);
    expect(s.report.fellBack.join('\n')).toMatch(/^native: .*sigill-runtime\.mjs crashed the probe process with SIGILL/);
    expect(s.report.nativeProbe?.ok).toBe(false);
    const out = await s.run(normaliseInput(spotFrame(64, 64, 5)).data, 1, 64, 64);
    expect(out.length).toBe(256 * 256);
  });

  it('uses the native runtime when the probe passes; wasm when asked, without probing', async () => {
    const n = await openModelSession(modelBytes('damn-int8.onnx'), { ...io, provider: 'cpu' });
    open.push(n);
    expect([n.runtime, n.provider, n.report.fellBack]).toEqual(['native', 'cpu', []]);
    expect(n.report.nativeProbe?.ok).toBe(true);
    // no GPU here: cuda is either missing from the build or fails to load, and CPU takes over
    const c = await openModelSession(modelBytes('damn-int8.onnx'), { ...io, provider: 'cuda' });
    open.push(c);
    expect([c.runtime, c.provider]).toEqual(['native', 'cpu']);
    expect(c.report.fellBack.join(';')).toMatch(/cuda/);
    const w = await openModelSession(modelBytes('damn-int8.onnx'), { ...io, provider: 'wasm', probeModule: sigill });
    open.push(w);
    expect([w.runtime, w.provider, w.report.fellBack, w.report.nativeProbe]).toEqual(['wasm', 'wasm', [], undefined]);
    // WebAssembly threads work under Node (SharedArrayBuffer + worker_threads): the pool is what was asked
    expect(w.report.threads).toBe(2);
  });

  it('refuses a window batch whose length does not match its shape, and keeps serving', async () => {
    for (const provider of ['cpu', 'wasm'] as const) {
      const s = await openModelSession(modelBytes('damn-int8.onnx'), { ...io, provider });
      open.push(s);
      await expect(s.run(new Float32Array(100), 1, 64, 64)).rejects.toThrow(/100 values, shape \[1,1,64,64\] needs 4096/);
      await expect(s.run(new Float32Array(0), 0, 64, 64)).rejects.toThrow(/not a positive integer shape/);
      expect((await s.run(new Float32Array(64 * 64).fill(1), 1, 64, 64)).length).toBe(256 * 256);
    }
  });

  it('fails with every reason when no runtime can load the model', async () => {
    const junk = new Uint8Array([1, 2, 3, 4]);
    await expect(openModelSession(junk, { ...io, provider: 'cpu', probeModule: broken })).rejects.toThrow(
      /no onnxruntime could load the model \(native: .*cannot open shared object file.*; wasm: /,
    );
  });
});

interface Diff {
  maxAbs: number;
  maxOut: number;
  /** fraction of pixels that differ by more than float rounding (1e-5 of the largest output) */
  flipped: number;
  relL2: number;
}

function diff(a: Float32Array, b: Float32Array): Diff {
  expect(b.length).toBe(a.length);
  let maxAbs = 0;
  let maxOut = 0;
  for (let i = 0; i < a.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(a[i] - b[i]));
    maxOut = Math.max(maxOut, Math.abs(a[i]));
  }
  let flipped = 0;
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i] - b[i]) > 1e-5 * maxOut) flipped++;
  return { maxAbs, maxOut, flipped: flipped / a.length, relL2: relativeL2(a, b) };
}

// 256² seed 2 is one of the frames with a requantisation tie (see the INT8 test)
const cases = [...[1, 2, 3].map((seed) => ({ side: 64, seed })), ...[1, 2].map((seed) => ({ side: 256, seed }))];
const input = (side: number, seed: number) => normaliseInput(spotFrame(side, side, seed, (side * side) / 200)).data;

describe('WASM gives the native outputs', () => {
  it('FP32: to float tolerance on seeded 64² and 256² frames', async () => {
    const model = modelBytes('damn-fp32.onnx');
    const native = await openModelSession(model, { ...io, provider: 'cpu' });
    const wasm = await openModelSession(model, { ...io, provider: 'wasm' });
    try {
      for (const { side, seed } of cases) {
        const d = diff(await native.run(input(side, seed), 1, side, side), await wasm.run(input(side, seed), 1, side, side));
        // measured by bench/wasm-vs-native.ts on 24 frames: max |Δ| ≤ 1.8e-5 of the largest output, relative
        // L2 ≤ 5.4e-6: the kernels (MLAS AVX2 vs WASM SIMD) sum in another order, nothing more
        expect(d.maxAbs / d.maxOut, `${side}² seed ${seed}`).toBeLessThan(1e-4);
        expect(d.relL2, `${side}² seed ${seed}`).toBeLessThan(2e-5);
      }
    } finally {
      await native.release();
      await wasm.release();
    }
  });

  it('INT8 (QDQ): equal to float rounding but for rare requantisation ties, far below the INT8 error itself', async () => {
    const int8 = modelBytes('damn-int8.onnx');
    const native = await openModelSession(int8, { ...io, provider: 'cpu' });
    const wasm = await openModelSession(int8, { ...io, provider: 'wasm' });
    const fp32 = await openModelSession(modelBytes('damn-fp32.onnx'), { ...io, provider: 'cpu' });
    try {
      for (const { side, seed } of cases) {
        const a = await native.run(input(side, seed), 1, side, side);
        const d = diff(a, await wasm.run(input(side, seed), 1, side, side));
        const quantisationError = relativeL2(await fp32.run(input(side, seed), 1, side, side), a);
        // measured by bench/wasm-vs-native.ts on 24 frames: 20 agree to float rounding; on 4 an activation
        // sits on a uint8 rounding tie and rounds the other way in one kernel, moving ≤ 4.5e-5 of the
        // output pixels by up to 9.4% of the peak; relative L2 ≤ 1.0e-2, a twentieth of INT8-vs-FP32 (≥ 0.23)
        expect(d.flipped, `${side}² seed ${seed}`).toBeLessThan(2e-4);
        expect(d.relL2, `${side}² seed ${seed}`).toBeLessThan(0.1 * quantisationError);
      }
    } finally {
      await native.release();
      await wasm.release();
      await fp32.release();
    }
  });
});

describe('through the inference worker', () => {
  const saved = process.env[PROBE_MODULE_ENV];
  afterEach(() => {
    if (saved === undefined) delete process.env[PROBE_MODULE_ENV];
    else process.env[PROBE_MODULE_ENV] = saved;
  });

  it('a board whose native runtime dies with SIGILL serves the same frames on WASM, and reports it', async () => {
    const model = await loadModel('damn', new URL('../../../models-int8', import.meta.url).pathname);
    const o = { provider: 'cpu' as const, threads: 2, tile: { window: 256, memoryMB: 256 } };
    const native = await WorkerEngine.onnx(model, o);
    process.env[PROBE_MODULE_ENV] = sigill;
    const lines: Array<{ level: number; msg: string; runtime?: { runtime: string } }> = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    const fallback = await WorkerEngine.onnx(model, { ...o, log });
    try {
      expect(native.provider).toBe('cpu');
      expect(native.runtime?.runtime).toBe('native');
      expect(fallback.provider).toBe('wasm');
      expect(fallback.runtime).toMatchObject({ requested: 'cpu', runtime: 'wasm', provider: 'wasm' });
      expect(fallback.runtime?.fellBack[0]).toMatch(/SIGILL \(illegal instruction/);
      // the log says what runs and why, as a warning
      const said = lines.find((l) => l.msg.startsWith('inference runs on'));
      expect(said?.level).toBe(40);
      expect(said?.msg).toMatch(/^inference runs on wasm on onnxruntime-web 1\.30\.\d+ \(2 threads\); requested cpu: native: .*SIGILL/);
      expect(said?.runtime?.runtime).toBe('wasm');
      const frame = spotFrame(64, 48, 9);
      const a = await native.reconstruct(frame);
      const b = await fallback.reconstruct(frame);
      expect([b.width, b.height]).toEqual([a.width, a.height]);
      expect(diff(a.data, b.data).flipped).toBeLessThan(2e-4);
    } finally {
      await native.close();
      await fallback.close();
    }
  });
});

describe('wiring', () => {
  it('inference.provider accepts exactly the provider types, wasm included', () => {
    for (const p of PROVIDER_TYPES) expect(inferenceSchema.parse({ provider: p }).provider).toBe(p);
    expect(() => inferenceSchema.parse({ provider: 'webgpu' })).toThrow();
    expect(inferenceSchema.parse({}).provider).toBe('cpu');
  });

  // A fresh process that does what cli.ts does at start (load every command module), then opens a
  // session after a SIGILL probe with the given threads; it reports the runtime, the onnxruntime
  // shared objects it has loaded, and how many worker threads it runs.
  // (CommonJS eval, not --input-type=module: worker_threads inherit execArgv, and a worker refuses that flag)
  const childScript = `(async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const [probeModule, threads] = process.argv.slice(1);
    for (const f of readdirSync('src/commands').filter((f) => f.endsWith('.ts'))) await import('./src/commands/' + f);
    const { openModelSession } = await import('./src/inference/runtime/index.ts');
    const before = process.report.getReport().workers.length;
    const s = await openModelSession(new Uint8Array(readFileSync('models-int8/damn-int8.onnx')),
      { provider: 'cpu', threads: Number(threads), inputName: 'input', outputName: 'output', probeModule });
    await s.run(new Float32Array(64 * 64).fill(1), 1, 64, 64);
    const report = process.report.getReport();
    const libs = report.sharedObjects.filter((o) => /onnxruntime/.test(o));
    process.stdout.write(JSON.stringify({ runtime: s.runtime, libs, addedWorkers: report.workers.length - before }));
    await s.release();
  })();`;
  function child(threads: number): { runtime: string; libs: string[]; addedWorkers: number } {
    const root = new URL('../../../', import.meta.url).pathname;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', childScript, sigill, String(threads)], {
      cwd: root,
      encoding: 'utf8',
    });
    return JSON.parse(r.stdout.slice(r.stdout.lastIndexOf('{"runtime"')));
  }

  it('neither the CLI at start nor a WASM fallback loads the native addon; WASM threads are real threads', () => {
    const out = child(2);
    // loading onnxruntime-node's binding is what crashes such a board: it must not be in the process
    expect([out.runtime, out.libs]).toEqual(['wasm', []]);
    // onnxruntime-web's pool: the calling thread plus threads−1 worker_threads
    expect(out.addedWorkers).toBe(1);
  });
});
