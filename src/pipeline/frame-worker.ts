/**
 * The worker thread a reconstruction engine lives in: it owns the model session (or the
 * Richardson–Lucy engine) and runs the whole heavy frame path (frame-path.ts), so the daemon's
 * event loop only routes small messages. Protocol (structured clone; pixel, PNG and FITS buffers
 * are transferred, never copied):
 *   workerData: FrameWorkerInit → {type:'ready', provider, fellBack} | {type:'failed', error}
 *   {type:'process', id, job}      → {type:'processed', id, out} | {type:'error', id, error}
 *   {type:'calibration', calibration} (applies from the next frame)
 *   {type:'close'}                 → releases the session; the thread exits
 */
import { parentPort, workerData } from 'node:worker_threads';
import { analyseBands, type BandGraph } from '../inference/band-plan.ts';
import { PEAK_DEFAULTS } from '../inference/peaks.ts';
import type { ProviderType } from '../inference/providers.ts';
import { type ModelSession, type NativeProbeResult, openModelSession, type RuntimeReport } from '../inference/runtime/index.ts';
import type { TilePlanOptions } from '../inference/tiling.ts';
import { decodeModel, encodeModel } from '../onnx/model.ts';
import { makeImage } from '../optics/image.ts';
import { NANOHOLE } from '../optics/nanohole.ts';
import type { TrainedRanges } from '../optics/ood.ts';
import { RichardsonLucy } from '../optics/richardson-lucy.ts';
import { type FrameEngine, type FrameJob, type FrameOutput, FramePath } from './frame-path.ts';
import { NanoholePath } from './nanohole-path.ts';
import type { Calibration } from './preprocess.ts';

export interface OnnxWorkerInit {
  kind: 'onnx';
  /** the manifest's task: damn runs the tiled frame path, unet the nanohole path (one 128×128 window, holes) */
  task: 'damn' | 'unet';
  model: Uint8Array;
  provider: ProviderType;
  /** the main thread probes the native runtime once per process and hands the result on */
  nativeProbe?: NativeProbeResult;
  threads: number;
  inputName: string;
  outputName: string;
  memoryArena: boolean;
  scale: number;
  tiling: TilePlanOptions;
  /** run the network in row bands through its levels when its graph allows (else windows) */
  bands: boolean;
  /** the manifest's measured activation bytes per frame pixel of each band part (else the graph's estimate) */
  bandBytesPerPixel?: number[];
  batch: number;
  trainedRanges?: TrainedRanges;
}

export type FrameWorkerInit = OnnxWorkerInit | { kind: 'rl'; psf: string; iterations: number; tolerance: number; scale: number };

export type FrameWorkerRequest =
  | { type: 'process'; id: number; job: FrameJob }
  | { type: 'calibration'; calibration: Calibration }
  | { type: 'close' };

/** How the worker cuts frames for the network, for the start log and health. */
export type TilingReport =
  | { mode: 'bands'; parts: number; context: Array<{ above: number; below: number }> }
  | { mode: 'windows'; why?: string };

export type FrameWorkerReply =
  | { type: 'ready'; provider: string; runtime: RuntimeReport | undefined; tiling?: TilingReport }
  | { type: 'failed'; error: string }
  | { type: 'processed'; id: number; out: FrameOutput }
  | { type: 'error'; id: number; error: string };

const port = parentPort;
if (!port) throw new Error('frame-worker must run in a worker thread');
const init = workerData as FrameWorkerInit;

/** What a frame path offers the worker: both the tiled (damn) and the nanohole (unet) path. */
interface WorkerPath {
  calibration: Calibration;
  process(job: FrameJob): Promise<FrameOutput>;
}

async function openEngine(): Promise<{
  engine: FrameEngine;
  provider: string;
  runtime: RuntimeReport | undefined;
  tiling?: TilingReport;
  release: () => Promise<void>;
}> {
  if (init.kind === 'rl') {
    const rl = new RichardsonLucy(init.psf, { iterations: init.iterations, tolerance: init.tolerance, scale: init.scale });
    return {
      engine: { kind: 'frame', scale: init.scale, reconstruct: (f) => rl.reconstruct(f) },
      provider: 'js',
      runtime: undefined,
      release: async () => undefined,
    };
  }
  let why: string | undefined;
  if (init.bands && init.task === 'damn') {
    let graph: BandGraph | undefined;
    try {
      graph = analyseBands(decodeModel(init.model));
      if (graph.scale !== init.scale) throw new Error(`the graph's output is ${graph.scale}× its input, the manifest says ${init.scale}×`);
    } catch (err) {
      why = (err as Error).message;
    }
    if (graph) {
      const measured = init.bandBytesPerPixel;
      if (measured?.length === graph.parts.length) for (const [k, p] of graph.parts.entries()) p.bytesPerPixel = measured[k];
      try {
        return await openBands(init, graph);
      } catch (err) {
        // a part onnxruntime will not load: the whole model still may, in windows
        why = `a part of the cut network did not load: ${(err as Error).message.split('\n')[0]}`;
      }
    }
  }
  const session = await openModelSession(init.model, {
    provider: init.provider,
    threads: init.threads,
    inputName: init.inputName,
    outputName: init.outputName,
    nativeProbe: init.nativeProbe,
    memoryArena: init.memoryArena,
  });
  return {
    engine: { kind: 'windows', scale: init.scale, tiling: init.tiling, batch: init.batch, run: (d, n, h, w) => session.run(d, n, h, w) },
    provider: session.provider,
    runtime: session.report,
    tiling: { mode: 'windows', why },
    release: () => session.release(),
  };
}

/** One session per part of the cut network; the report is the first part's (they all open the same way). */
async function openBands(o: OnnxWorkerInit, graph: BandGraph): Promise<Awaited<ReturnType<typeof openEngine>>> {
  const sessions: ModelSession[] = [];
  const release = async () => {
    await Promise.allSettled(sessions.map((s) => s.release()));
  };
  try {
    for (const part of graph.parts) {
      sessions.push(
        await openModelSession(encodeModel(part.model), {
          provider: o.provider,
          threads: o.threads,
          inputName: part.inputs[0],
          outputName: part.output,
          nativeProbe: o.nativeProbe,
          memoryArena: o.memoryArena,
          spinning: false,
        }),
      );
    }
  } catch (err) {
    await release();
    throw err;
  }
  return {
    engine: {
      kind: 'bands',
      scale: o.scale,
      graph,
      multiple: o.tiling.multiple,
      memoryBytes: o.tiling.memoryBytes ?? 0,
      run: (k, feeds) => sessions[k].runTensors(feeds, graph.parts[k].output),
    },
    provider: sessions[0].provider,
    runtime: sessions[0].report,
    tiling: { mode: 'bands', parts: graph.parts.length, context: graph.parts.map((p) => ({ above: p.above, below: p.below })) },
    release,
  };
}

function transfers(out: FrameOutput): ArrayBuffer[] {
  const l = out.localizations;
  const list = [l.x.buffer, l.y.buffer, l.photons.buffer, l.peak.buffer] as ArrayBuffer[];
  if (l.fit) for (const a of Object.values(l.fit)) list.push(a.buffer as ArrayBuffer);
  if (out.image16) list.push(out.image16.png.buffer as ArrayBuffer);
  if (out.previews) list.push(out.previews.frame.buffer as ArrayBuffer, out.previews.output.buffer as ArrayBuffer);
  if (out.accumulated) list.push(out.accumulated.png.buffer as ArrayBuffer);
  if (out.accumulated?.preview) list.push(out.accumulated.preview.buffer as ArrayBuffer);
  if (out.map) list.push(out.map.data.buffer as ArrayBuffer);
  if (out.fits && 'bytes' in out.fits) list.push(out.fits.bytes.buffer as ArrayBuffer);
  // the nanohole path's hole list is a small plain object (structured clone)
  return [...new Set(list)].filter((b) => b.byteLength > 0);
}

async function main(): Promise<void> {
  let opened: Awaited<ReturnType<typeof openEngine>>;
  let path: WorkerPath;
  let release: (() => Promise<void>) | undefined;
  try {
    opened = await openEngine();
    release = opened.release;
    const engine = opened.engine;
    if (init.kind === 'onnx' && init.task === 'unet' && engine.kind === 'windows') {
      path = new NanoholePath((d, n, h, w) => engine.run(d, n, h, w));
      // warm-up, as below: one dark recorded frame
      await path.process({
        image: makeImage(NANOHOLE.inputSize, NANOHOLE.inputSize),
        postprocess: { ...PEAK_DEFAULTS, maxLocalizations: 0 },
      });
    } else path = new FramePath(engine, init.kind === 'onnx' ? init.trainedRanges : undefined);
    if (engine.kind !== 'frame' && !(path instanceof NanoholePath)) {
      // warm-up: the first run allocates and picks kernels; keep that off the first frame
      const side = Math.max(init.kind === 'onnx' ? init.tiling.multiple : 1, 64);
      await path.process({
        image: makeImage(side, side, new Float32Array(side * side).fill(1)),
        postprocess: { ...PEAK_DEFAULTS, maxLocalizations: 0 },
      });
    }
  } catch (err) {
    // a warm-up that fails must not leave the sessions open
    await release?.().catch(() => undefined);
    port?.postMessage({ type: 'failed', error: (err as Error).message } satisfies FrameWorkerReply);
    return;
  }
  port?.postMessage({
    type: 'ready',
    provider: opened.provider,
    runtime: opened.runtime,
    tiling: opened.tiling,
  } satisfies FrameWorkerReply);
  // one frame at a time: concurrent runs would multiply peak memory
  let queue: Promise<void> = Promise.resolve();
  port?.on('message', (msg: FrameWorkerRequest) => {
    if (msg.type === 'calibration') {
      queue = queue.then(() => {
        path.calibration = msg.calibration;
      });
      return;
    }
    if (msg.type === 'close') {
      queue = queue.then(async () => {
        await opened.release();
        port?.close();
      });
      return;
    }
    queue = queue.then(async () => {
      try {
        const j = msg.job;
        const out = await path.process({ ...j, image: makeImage(j.image.width, j.image.height, j.image.data) });
        port?.postMessage({ type: 'processed', id: msg.id, out } satisfies FrameWorkerReply, transfers(out));
      } catch (err) {
        port?.postMessage({ type: 'error', id: msg.id, error: (err as Error).message } satisfies FrameWorkerReply);
      }
    });
  });
}

void main();
