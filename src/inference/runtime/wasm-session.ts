/**
 * onnxruntime-web's WASM build (SIMD, pthreads over worker_threads) under Node: the runtime that
 * runs wherever V8 runs, for boards whose native onnxruntime cannot load. Its files are taken
 * from node_modules, never fetched.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { type NchwTensor, runNchw, runWindows } from './model-session.ts';

export interface WasmSessionOptions {
  threads: number;
  inputName: string;
  outputName: string;
}

export interface OpenedWasm {
  version: string;
  /** threads in effect: fixed by the first session of this thread, 1 when wasm threads are unavailable */
  threads: number;
  /** set when the thread count asked for could not be had */
  note?: string;
  run(data: Float32Array, n: number, h: number, w: number): Promise<Float32Array>;
  runTensors(feeds: Record<string, NchwTensor>, outputName: string): Promise<NchwTensor>;
  release(): Promise<void>;
}

type OrtWeb = typeof import('onnxruntime-web');
let loaded: Promise<OrtWeb> | undefined;

function loadWasmRuntime(threads: number): Promise<OrtWeb> {
  loaded ??= (async () => {
    const ort = await import('onnxruntime-web');
    const req = createRequire(import.meta.url);
    // the plain SIMD+threads build (no WebGPU/JSEP): what a CPU-only board can run
    ort.env.wasm.wasmPaths = {
      mjs: pathToFileURL(req.resolve('onnxruntime-web/ort-wasm-simd-threaded.mjs')).href,
      wasm: pathToFileURL(req.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm')).href,
    };
    // the pool size is read once, when the first session initialises the WASM module
    ort.env.wasm.numThreads = Math.max(1, threads);
    ort.env.wasm.simd = true;
    ort.env.logLevel = 'error';
    return ort;
  })();
  return loaded;
}

export async function openWasmSession(model: Uint8Array, o: WasmSessionOptions): Promise<OpenedWasm> {
  const ort = await loadWasmRuntime(o.threads);
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  });
  const threads = ort.env.wasm.numThreads ?? 1;
  return {
    version: ort.env.versions.web ?? ort.env.versions.common,
    threads,
    note: threads === o.threads ? undefined : `wasm runs ${threads} thread${threads === 1 ? '' : 's'} (asked for ${o.threads})`,
    run: (data, n, h, w) => runWindows(session, ort.Tensor, o, data, n, h, w),
    runTensors: (feeds, outputName) => runNchw(session, ort.Tensor, feeds, outputName),
    release: () => session.release(),
  };
}
