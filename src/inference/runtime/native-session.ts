/**
 * onnxruntime-node sessions: the requested provider chain, then CPU, as before the WASM fallback
 * existed. Loads the addon only when called — the caller has probed it first.
 */
import type { InferenceSession } from 'onnxruntime-node';
import { type NativeProviderType, providerPlan } from '../providers.ts';
import { type NchwTensor, runNchw, runWindows } from './model-session.ts';

export interface NativeSessionOptions {
  provider: NativeProviderType;
  threads: number;
  inputName: string;
  outputName: string;
  /** keep onnxruntime's CPU arena between runs (default); see inference.memoryArena */
  memoryArena?: boolean;
  /**
   * let the intra-op threads spin-wait between runs (default). Off where several sessions take
   * turns (the band parts): a session's spinning threads otherwise hold the cores the next one
   * needs (in a one-off check it nearly doubled the time of a 1456×1088 frame through seven parts)
   */
  spinning?: boolean;
}

export interface OpenedNative {
  provider: string;
  version: string;
  run(data: Float32Array, n: number, h: number, w: number): Promise<Float32Array>;
  runTensors(feeds: Record<string, NchwTensor>, outputName: string): Promise<NchwTensor>;
  release(): Promise<void>;
}

/** Resolves to undefined, with the reasons, when no native chain could load the model. */
export async function openNativeSession(
  model: Uint8Array,
  o: NativeSessionOptions,
): Promise<{ opened: OpenedNative | undefined; fellBack: string[] }> {
  const ort = await import('onnxruntime-node');
  let backends: string[];
  try {
    backends = ort.listSupportedBackends().map((b) => b.name);
  } catch {
    backends = ['cpu'];
  }
  const plan = providerPlan(o.provider, backends);
  const fellBack: string[] = plan.note ? [plan.note] : [];
  for (const p of [plan.primary, ...(plan.fallback ? [plan.fallback] : [])]) {
    let session: InferenceSession;
    try {
      session = await ort.InferenceSession.create(model, {
        executionProviders: p.sessionProviders(),
        intraOpNumThreads: o.threads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        enableCpuMemArena: o.memoryArena ?? true,
        // the memory pattern pre-plans one block per input shape on top of the arena: with every
        // window the same shape the arena already reuses its chunks, and the plan's block was a
        // second copy of the activations (peak RSS of the bare model at 1456×1088 measured
        // 469–503 MB with it, 400–425 MB without, at the same CPU time per frame)
        enableMemPattern: false,
        logSeverityLevel: 3,
        ...(o.spinning === false ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
      });
    } catch (err) {
      fellBack.push(`${p.type}: ${(err as Error).message.split('\n')[0]}`);
      continue;
    }
    const opened: OpenedNative = {
      provider: p.type,
      version: ort.env.versions.common ?? 'unknown',
      run: (data, n, h, w) => runWindows(session, ort.Tensor, o, data, n, h, w),
      runTensors: (feeds, outputName) => runNchw(session, ort.Tensor, feeds, outputName),
      release: () => session.release(),
    };
    return { opened, fellBack };
  }
  return { opened: undefined, fellBack };
}
