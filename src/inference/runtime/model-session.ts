/**
 * One interface for "a session that runs a batch of single-channel NCHW float32 windows", whichever
 * onnxruntime runs it: the native addon (onnxruntime-node: cpu, cuda, tensorrt) or the WASM build
 * (onnxruntime-web). Usable from a worker thread.
 */
import type { NativeProbeResult } from './native-probe.ts';

export type RuntimeKind = 'native' | 'wasm';

/** What runs and why, small enough to put in health as it is. */
export interface RuntimeReport {
  /** `inference.provider` as configured */
  readonly requested: string;
  readonly runtime: RuntimeKind;
  /** the provider chain that loaded the model: cpu, cuda, tensorrt or wasm */
  readonly provider: string;
  /** the onnxruntime package and version that runs it */
  readonly engine: string;
  /** intra-op threads in effect (WASM: worker threads of its pthread pool, 1 = single-threaded) */
  readonly threads: number;
  /** why each better choice was not taken, in the order they were tried */
  readonly fellBack: readonly string[];
  /** the child-process probe of the native runtime; absent when WASM was asked for */
  readonly nativeProbe?: NativeProbeResult;
}

export interface ModelSession {
  readonly runtime: RuntimeKind;
  readonly provider: string;
  readonly report: RuntimeReport;
  /** `data` holds n windows of h×w (one channel); returns the output tensor's values */
  run(data: Float32Array, n: number, h: number, w: number): Promise<Float32Array>;
  /** named NCHW inputs of any shape (float32 or uint8) → the one output asked for */
  runTensors(feeds: Record<string, NchwTensor>, outputName: string): Promise<NchwTensor>;
  release(): Promise<void>;
}

/** An NCHW tensor as it crosses between the band executor and a session. */
export interface NchwTensor {
  data: Float32Array | Uint8Array;
  dims: [number, number, number, number];
}

/** One line for the log: what runs, and why not what was asked for. */
export function describeRuntime(r: RuntimeReport): string {
  const what = `${r.provider} on ${r.engine} (${r.threads} thread${r.threads === 1 ? '' : 's'})`;
  return r.fellBack.length ? `inference runs on ${what}; requested ${r.requested}: ${r.fellBack.join('; ')}` : `inference runs on ${what}`;
}

export function checkWindowShape(data: Float32Array, n: number, h: number, w: number): void {
  if (!(Number.isInteger(n) && Number.isInteger(h) && Number.isInteger(w) && n > 0 && h > 0 && w > 0)) {
    throw new Error(`window shape [${n},1,${h},${w}] is not a positive integer shape`);
  }
  if (data.length !== n * h * w) throw new Error(`window batch has ${data.length} values, shape [${n},1,${h},${w}] needs ${n * h * w}`);
}

/** The little both onnxruntime packages' sessions and tensors have in common, for runWindows. */
export interface AnySession {
  run(
    feeds: Record<string, unknown>,
    fetches: string[],
  ): Promise<Record<string, { data: unknown; dims: readonly number[]; dispose(): void }>>;
}
export type TensorCtor = new (type: 'float32' | 'uint8', data: Float32Array | Uint8Array, dims: number[]) => unknown;

/** One batch of n single-channel h×w windows through a session of either runtime. */
export async function runWindows(
  session: AnySession,
  Tensor: TensorCtor,
  names: { inputName: string; outputName: string },
  data: Float32Array,
  n: number,
  h: number,
  w: number,
): Promise<Float32Array> {
  checkWindowShape(data, n, h, w);
  const out = await runNchw(session, Tensor, { [names.inputName]: { data, dims: [n, 1, h, w] } }, names.outputName);
  return out.data as Float32Array;
}

/** Named NCHW tensors through a session of either runtime; the output's values and shape. */
export async function runNchw(
  session: AnySession,
  Tensor: TensorCtor,
  feeds: Record<string, NchwTensor>,
  outputName: string,
): Promise<NchwTensor> {
  const inputs: Record<string, unknown> = {};
  for (const [name, t] of Object.entries(feeds)) {
    const n = t.dims.reduce((a, b) => a * b, 1);
    if (t.data.length !== n) throw new Error(`input ${name} has ${t.data.length} values, shape [${t.dims}] needs ${n}`);
    inputs[name] = new Tensor(t.data instanceof Uint8Array ? 'uint8' : 'float32', t.data, [...t.dims]);
  }
  const result = await session.run(inputs, [outputName]);
  const out = result[outputName];
  const dims = out.dims;
  if (dims.length !== 4) throw new Error(`output ${outputName} has shape [${dims}], expected NCHW`);
  const data = out.data;
  if (!(data instanceof Float32Array || data instanceof Uint8Array)) throw new Error(`output ${outputName} is neither float32 nor uint8`);
  out.dispose();
  return { data, dims: [dims[0], dims[1], dims[2], dims[3]] };
}
