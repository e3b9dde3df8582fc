/**
 * Execution providers, chosen by `inference.provider` the way Frigate picks detectors: each type
 * is one small object that says whether this onnxruntime build can run it and which provider
 * chain to hand the session. CPU is always last in the chain and is the fallback.
 */
import * as ort from 'onnxruntime-node';

export type ProviderType = 'cpu' | 'cuda' | 'tensorrt';

export interface ExecutionProvider {
  readonly type: ProviderType;
  /** the onnxruntime-node backend name this needs, if any */
  readonly backend: string;
  /** provider list for InferenceSession options, preferred first */
  sessionProviders(): ort.InferenceSession.ExecutionProviderConfig[];
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

export const executionProviders: Record<ProviderType, ExecutionProvider> = { cpu, cuda, tensorrt };

/** Backend names this onnxruntime-node build knows about (bundled or loadable). */
export function supportedBackends(): string[] {
  try {
    return ort.listSupportedBackends().map((b) => b.name);
  } catch {
    return ['cpu'];
  }
}

/**
 * The provider chain to try first and the CPU chain to fall back to. A provider the build does
 * not list is skipped at once; one it lists can still fail at session creation (no GPU driver),
 * which the caller handles by retrying with the fallback.
 */
export function providerPlan(requested: ProviderType): {
  primary: ExecutionProvider;
  fallback: ExecutionProvider | undefined;
  note?: string;
} {
  const want = executionProviders[requested];
  if (want.type === 'cpu') return { primary: cpu, fallback: undefined };
  if (!supportedBackends().includes(want.backend)) {
    return { primary: cpu, fallback: undefined, note: `${requested} is not in this onnxruntime-node build` };
  }
  return { primary: want, fallback: cpu };
}
