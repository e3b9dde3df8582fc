/**
 * Open a model on the best runtime this board can run, behind `inference.provider`:
 *   wasm                → onnxruntime-web (the native addon is never loaded)
 *   cpu | cuda | tensorrt → probe onnxruntime-node in a child process; if it survives, the native
 *                         chain (requested provider, then CPU); if the probe or every native chain
 *                         fails, onnxruntime-web, with the reasons in the report.
 */
import type { Logger } from '../../log.ts';
import type { ProviderType } from '../providers.ts';
import { describeRuntime, type ModelSession, type RuntimeReport } from './model-session.ts';
import { type NativeProbeResult, probeNativeRuntime } from './native-probe.ts';
import { openNativeSession } from './native-session.ts';
import { openWasmSession } from './wasm-session.ts';

export interface OpenModelSessionOptions {
  provider: ProviderType;
  threads: number;
  inputName: string;
  outputName: string;
  log?: Logger;
  /**
   * A probe result the caller already has (a main thread probes once per process and hands it
   * to each inference worker); without it the probe runs here, once per thread.
   */
  nativeProbe?: NativeProbeResult;
  /** module the probe loads instead of onnxruntime-node (tests: a build that dies with SIGILL) */
  probeModule?: string;
  /** keep onnxruntime's CPU arena between runs (native runtime); default off */
  memoryArena?: boolean;
  /** native runtime: intra-op threads spin-wait between runs (default on; see NativeSessionOptions) */
  spinning?: boolean;
}

export async function openModelSession(model: Uint8Array, o: OpenModelSessionOptions): Promise<ModelSession> {
  const fellBack: string[] = [];
  let nativeProbe: NativeProbeResult | undefined;
  if (o.provider !== 'wasm') {
    nativeProbe = o.nativeProbe ?? (await probeNativeRuntime({ module: o.probeModule, threads: o.threads }));
    if (nativeProbe.ok) {
      const native = await openNativeSession(model, {
        provider: o.provider,
        threads: o.threads,
        inputName: o.inputName,
        outputName: o.outputName,
        memoryArena: o.memoryArena,
        spinning: o.spinning,
      });
      fellBack.push(...native.fellBack);
      if (native.opened) {
        const n = native.opened;
        return finish(o, {
          report: {
            requested: o.provider,
            runtime: 'native',
            provider: n.provider,
            engine: `onnxruntime-node ${n.version}`,
            threads: o.threads,
            fellBack,
            nativeProbe,
          },
          run: n.run,
          runTensors: n.runTensors,
          release: n.release,
        });
      }
      fellBack.push('native: no provider chain could load the model');
    } else {
      fellBack.push(`native: ${nativeProbe.reason}`);
    }
    o.log?.warn({ requested: o.provider, reasons: fellBack }, 'native onnxruntime unusable here: falling back to onnxruntime-web (WASM)');
  }
  let wasm: Awaited<ReturnType<typeof openWasmSession>>;
  try {
    wasm = await openWasmSession(model, { threads: o.threads, inputName: o.inputName, outputName: o.outputName });
  } catch (err) {
    const why = [...fellBack, `wasm: ${(err as Error).message.split('\n')[0]}`];
    throw new Error(`no onnxruntime could load the model (${why.join('; ')})`);
  }
  if (wasm.note) fellBack.push(wasm.note);
  return finish(o, {
    report: {
      requested: o.provider,
      runtime: 'wasm',
      provider: 'wasm',
      engine: `onnxruntime-web ${wasm.version}`,
      threads: wasm.threads,
      fellBack,
      nativeProbe,
    },
    run: wasm.run,
    runTensors: wasm.runTensors,
    release: wasm.release,
  });
}

function finish(
  o: OpenModelSessionOptions,
  s: { report: RuntimeReport; run: ModelSession['run']; runTensors: ModelSession['runTensors']; release: ModelSession['release'] },
): ModelSession {
  o.log?.info({ runtime: s.report }, describeRuntime(s.report));
  return {
    runtime: s.report.runtime,
    provider: s.report.provider,
    report: s.report,
    run: s.run,
    runTensors: s.runTensors,
    release: s.release,
  };
}
