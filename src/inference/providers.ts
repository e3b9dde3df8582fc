/**
 * Execution providers, chosen by `inference.provider` the way Frigate picks detectors: each type
 * is one small object that says which runtime runs it and which provider chain to hand the
 * session. For the native runtime CPU is always last in the chain and is the fallback; the WASM
 * runtime (onnxruntime-web) is the last resort when the native one cannot run on this board.
 *
 * Only types are imported from onnxruntime here: loading onnxruntime-node's addon is what crashes
 * on some boards, so nothing may load it before the child-process probe says it is safe.
 */
import type { InferenceSession } from 'onnxruntime-node';

export const PROVIDER_TYPES = ['cpu', 'wasm', 'cuda', 'tensorrt'] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];
export type NativeProviderType = Exclude<ProviderType, 'wasm'>;

export interface ExecutionProvider {
  readonly type: NativeProviderType;
  /** the onnxruntime-node backend name this needs */
  readonly backend: string;
  /** provider list for InferenceSession options, preferred first */
  sessionProviders(): InferenceSession.ExecutionProviderConfig[];
}

const cpu: ExecutionProvider = {
  type: 'cpu',
  backend: 'cpu',
  sessionProviders: () => ['cpu'],
};

const cuda: ExecutionProvider = {
  type: 'cuda',
  backend: 'cuda',
  sessionProviders: () => [{ name: 'cuda', deviceId: 0 }, 'cpu'],
};

const tensorrt: ExecutionProvider = {
  type: 'tensorrt',
  backend: 'tensorrt',
  // TensorRT leaves unsupported ops to CUDA, and CUDA to the CPU
  sessionProviders: () => [{ name: 'tensorrt', deviceId: 0 }, { name: 'cuda', deviceId: 0 }, 'cpu'],
};

export const executionProviders: Record<NativeProviderType, ExecutionProvider> = { cpu, cuda, tensorrt };

/**
 * The native provider chain to try first and the CPU chain to fall back to. A provider the build
 * does not list (`backends`, from onnxruntime-node's listSupportedBackends) is skipped at once;
 * one it lists can still fail at session creation (no GPU driver), which the caller handles by
 * retrying with the fallback.
 */
export function providerPlan(
  requested: NativeProviderType,
  backends: readonly string[],
): {
  primary: ExecutionProvider;
  fallback: ExecutionProvider | undefined;
  note?: string;
} {
  const want = executionProviders[requested];
  if (want.type === 'cpu') return { primary: cpu, fallback: undefined };
  if (!backends.includes(want.backend)) {
    return { primary: cpu, fallback: undefined, note: `${requested} is not in this onnxruntime-node build` };
  }
  return { primary: want, fallback: cpu };
}
