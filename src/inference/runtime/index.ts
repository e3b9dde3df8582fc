export type { ModelSession, NchwTensor, RuntimeKind, RuntimeReport } from './model-session.ts';
export { describeRuntime } from './model-session.ts';
export { type NativeProbeResult, PROBE_MODULE_ENV, probeNativeRuntime } from './native-probe.ts';
export { type OpenModelSessionOptions, openModelSession } from './open-session.ts';
