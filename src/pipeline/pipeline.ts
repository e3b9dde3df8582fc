import type { Frame, FrameSource } from '../camera/types.ts';
import type { Reconstructor } from '../inference/types.ts';
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import { type PostprocessOptions, postprocess } from './postprocess.ts';
import { type Calibration, preprocess } from './preprocess.ts';
import { DropOldestQueue } from './queue.ts';
import type { FrameResult, ResultSink } from './types.ts';

/**
 * One frame's whole path:
 *   FrameSource ──push──▶ DropOldestQueue ──take──▶ preprocess ▶ reconstruct ▶ postprocess ▶ sinks
 * Capture never waits on reconstruction; when reconstruction falls behind the queue drops the
 * oldest frame and counts it. A frame that fails in any stage is counted and logged, and the
 * loop goes on with the next one.
 */
export interface PipelineOptions {
  stream: string;
  queueSize: number;
  reconstructor: Reconstructor;
  postprocess: PostprocessOptions;
  calibration?: Calibration;
  sinks?: ResultSink[];
  log?: Logger;
}

export interface PipelineStats {
  framesIn: number;
  framesOut: number;
  dropped: number;
  errors: number;
  queueDepth: number;
  streaming: boolean;
  lastError?: string;
}

interface Queued {
  frame: Frame;
  enqueuedAt: number;
}

export class Pipeline {
  private queue: DropOldestQueue<Queued>;
  private source: FrameSource | null = null;
  private loop: Promise<void> | null = null;
  private recon: Reconstructor;
  private readonly sinks: ResultSink[];
  private readonly log: Logger;
  private framesIn = 0;
  private framesOut = 0;
  private errors = 0;
  private lastError: string | undefined;
  private droppedBefore = 0;
  calibration: Calibration;
  postprocessOptions: PostprocessOptions;

  constructor(private readonly opts: PipelineOptions) {
    this.recon = opts.reconstructor;
    this.sinks = opts.sinks ?? [];
    this.log = opts.log ?? silentLogger;
    this.calibration = opts.calibration ?? {};
    this.postprocessOptions = opts.postprocess;
    this.queue = new DropOldestQueue<Queued>(opts.queueSize);
  }

  get reconstructor(): Reconstructor {
    return this.recon;
  }

  /** Takes effect from the next frame; the caller closes the old one when it wants. */
  setReconstructor(r: Reconstructor): Reconstructor {
    const old = this.recon;
    this.recon = r;
    return old;
  }

  addSink(s: ResultSink): void {
    this.sinks.push(s);
  }

  get streaming(): boolean {
    return this.source !== null;
  }

  async start(source: FrameSource): Promise<void> {
    if (this.source) throw new Error('pipeline is already streaming');
    this.queue = new DropOldestQueue<Queued>(this.opts.queueSize);
    this.source = source;
    this.loop = this.run(this.queue);
    try {
      await source.start(
        (frame) => {
          this.framesIn++;
          this.queue.push({ frame, enqueuedAt: performance.now() });
        },
        (err) => {
          this.lastError = `source: ${err.message}`;
          this.log.warn({ err: err.message }, 'frame source error');
        },
      );
    } catch (e) {
      this.source = null;
      this.queue.close();
      await this.loop;
      this.loop = null;
      throw e;
    }
  }

  /** Stop capture; with drain (default) the queued frames are still processed and published. */
  async stop(opts: { drain?: boolean } = {}): Promise<void> {
    const src = this.source;
    if (!src) return;
    this.source = null;
    try {
      await src.stop();
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'frame source did not stop cleanly');
    }
    if (opts.drain === false) this.queue.clear();
    this.queue.close();
    await this.loop;
    this.droppedBefore += this.queue.dropped;
    this.queue = new DropOldestQueue<Queued>(this.opts.queueSize);
    this.loop = null;
  }

  /** Process one frame now, outside the stream (capture command, one-shot use). */
  async processOne(frame: Frame): Promise<FrameResult> {
    return this.process(frame, performance.now());
  }

  stats(): PipelineStats {
    return {
      framesIn: this.framesIn,
      framesOut: this.framesOut,
      dropped: this.dropped,
      errors: this.errors,
      queueDepth: this.queue.depth,
      streaming: this.streaming,
      lastError: this.lastError,
    };
  }

  get dropped(): number {
    return this.droppedBefore + this.queue.dropped;
  }

  private async run(queue: DropOldestQueue<Queued>): Promise<void> {
    for (;;) {
      const item = await queue.take();
      if (!item) return;
      try {
        await this.process(item.frame, item.enqueuedAt);
      } catch (e) {
        this.errors++;
        this.lastError = `frame ${item.frame.seq}: ${(e as Error).message}`;
        this.log.error({ seq: item.frame.seq, err: (e as Error).message }, 'frame failed');
      }
    }
  }

  private async process(frame: Frame, enqueuedAt: number): Promise<FrameResult> {
    const t0 = performance.now();
    const pre = preprocess(frame.image, this.calibration);
    const t1 = performance.now();
    const recon = this.recon;
    const output = await recon.reconstruct(pre);
    const t2 = performance.now();
    const localizations = postprocess(output, recon.scale, pre, this.postprocessOptions);
    const t3 = performance.now();
    const result: FrameResult = {
      stream: this.opts.stream,
      seq: frame.seq,
      timestamp: frame.timestamp,
      source: frame.source,
      model: { id: recon.id, fingerprint: recon.fingerprint, provider: recon.provider },
      input: frame.image,
      output,
      scale: recon.scale,
      localizations,
      timings: {
        queue: t0 - enqueuedAt,
        preprocess: t1 - t0,
        reconstruct: t2 - t1,
        postprocess: t3 - t2,
        total: t3 - enqueuedAt,
      },
      dropped: this.dropped,
      truth: frame.truth,
    };
    this.framesOut++;
    for (const s of this.sinks) {
      try {
        s.publish(result);
      } catch (e) {
        this.log.error({ err: (e as Error).message }, 'result sink failed');
      }
    }
    return result;
  }
}
