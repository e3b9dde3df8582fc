import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as OrtNode from 'onnxruntime-node';
import { decodeModel } from '../../onnx/model.ts';

export interface OptimizedGraphSummary {
  /** op type (prefixed with its domain when not ai.onnx) → count, after onnxruntime's optimisations */
  ops: Record<string, number>;
  qlinearConvs: number;
  /** Conv/FusedConv nodes still running in float */
  floatConvs: number;
}

/**
 * What onnxruntime actually runs: optimise the model at level "all" on the CPU provider, save the
 * optimised graph and count its ops. This is how fusion into QLinearConv is checked.
 */
export async function summariseOptimizedGraph(model: string | Uint8Array, threads = 1): Promise<OptimizedGraphSummary> {
  const dir = await mkdtemp(join(tmpdir(), 'rayleigh-opt-'));
  const file = join(dir, 'optimized.onnx');
  try {
    // loaded lazily: see calibrate.ts (the CLI must not load the native addon at start)
    const ort = await import('onnxruntime-node');
    const opts: OrtNode.InferenceSession.SessionOptions = {
      graphOptimizationLevel: 'all',
      optimizedModelFilePath: file,
      intraOpNumThreads: threads,
      executionProviders: ['cpu'],
      logSeverityLevel: 3,
    };
    const session =
      typeof model === 'string' ? await ort.InferenceSession.create(model, opts) : await ort.InferenceSession.create(model, opts);
    await session.release();
    const g = decodeModel(await readFile(file)).graph ?? {};
    const ops: Record<string, number> = {};
    let qlinearConvs = 0;
    let floatConvs = 0;
    for (const n of g.node ?? []) {
      const op = n.op_type ?? '';
      const key = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${op}` : op;
      ops[key] = (ops[key] ?? 0) + 1;
      if (op === 'QLinearConv') qlinearConvs++;
      if (op === 'Conv' || op === 'FusedConv') floatConvs++;
    }
    return { ops, qlinearConvs, floatConvs };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
