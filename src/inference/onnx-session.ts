/**
 * An onnxruntime session that runs batches of NCHW float32 windows, opened on the first provider
 * chain that loads the model. Lives in the engine's worker thread.
 */
import * as ort from 'onnxruntime-node';
import type { BatchRunner } from './tiling.ts';

export interface OnnxSessionInit {
  model: Uint8Array;
  providerChains: Array<{ name: string; providers: ort.InferenceSession.ExecutionProviderConfig[] }>;
  threads: number;
  inputName: string;
  outputName: string;
  /**
   * onnxruntime's CPU arena keeps the largest allocation pattern it has seen; off, a window's
   * activations are returned after each run (measured here: 796 → 499 MB peak RSS for a 1456×544
   * window, no slower)
   */
  memoryArena: boolean;
}

export interface OnnxRunner {
  provider: string;
  fellBack: string[];
  run: BatchRunner;
  release(): Promise<void>;
}

export async function openOnnxRunner(init: OnnxSessionInit): Promise<OnnxRunner> {
  const fellBack: string[] = [];
  for (const chain of init.providerChains) {
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(init.model, {
        executionProviders: chain.providers,
        intraOpNumThreads: init.threads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        enableCpuMemArena: init.memoryArena,
        enableMemPattern: init.memoryArena,
        logSeverityLevel: 3,
      });
    } catch (err) {
      fellBack.push(`${chain.name}: ${(err as Error).message.split('\n')[0]}`);
      continue;
    }
    const s = session;
    return {
      provider: chain.name,
      fellBack,
      async run(data, n, h, w) {
        const feeds = { [init.inputName]: new ort.Tensor('float32', data, [n, 1, h, w]) };
        const result = await s.run(feeds, [init.outputName]);
        const out = result[init.outputName];
        const values = out.data as Float32Array;
        out.dispose();
        return values;
      },
      release: () => s.release(),
    };
  }
  throw new Error(`no execution provider could load the model (${fellBack.join('; ')})`);
}
