import { describe, expect, it } from 'vitest';
import { SimCamera } from '../../../src/camera/sim.ts';
import type { Frame, FrameSource, FrameSourceStats } from '../../../src/camera/types.ts';
import { parseSettings } from '../../../src/config/load.ts';
import { inThread } from '../../../src/inference/in-thread.ts';
import { columnsToList } from '../../../src/inference/peaks.ts';
import type { MapEngine } from '../../../src/inference/types.ts';
import { type Image, makeImage } from '../../../src/optics/image.ts';
import { RichardsonLucy } from '../../../src/optics/richardson-lucy.ts';
import { type ImageProducts, Pipeline } from '../../../src/pipeline/pipeline.ts';
import type { FrameResult } from '../../../src/pipeline/types.ts';

/** A source that emits `n` frames as fast as it can, synchronously, like a burst from a fast camera. */
class BurstSource implements FrameSource {
  readonly kind = 'burst';
  private st: FrameSourceStats = { frames: 0, restarts: 0, errors: 0 };
  constructor(
    private readonly n: number,
    private readonly bad: Set<number> = new Set(),
  ) {}
  private frame(seq: number): Frame {
    const img = makeImage(16, 16);
    img.data.fill(1);
    img.data[8 * 16 + 8] = 100;
    if (this.bad.has(seq)) img.data[0] = Number.NaN;
    return { seq, timestamp: Date.now(), image: img, source: this.kind };
  }
  async start(onFrame: (f: Frame) => void): Promise<void> {
    for (let i = 0; i < this.n; i++) {
      this.st.frames++;
      onFrame(this.frame(i));
    }
  }
  async stop(): Promise<void> {}
  async capture(): Promise<Frame> {
    return this.frame(999);
  }
  stats(): FrameSourceStats {
    return this.st;
  }
}

/** A deliberately slow engine, so the queue fills: the pipeline's drop policy is what is tested. */
class SlowEngine implements MapEngine {
  readonly id = 'slow';
  readonly scale = 1;
  readonly fingerprint = 'slow';
  readonly provider = 'js';
  async reconstruct(frame: Image): Promise<Image> {
    await new Promise((r) => setTimeout(r, 20));
    const out = new Float32Array(frame.data.length);
    let s = 0;
    for (const v of frame.data) s += v;
    for (let i = 0; i < out.length; i++) out[i] = frame.data[i] / s;
    return makeImage(frame.width, frame.height, out);
  }
  async close(): Promise<void> {}
}

const post = { threshold: 0.5, minDistance: 1, maxLocalizations: 10 };
const NO_IMAGES: ImageProducts = {
  image: { enabled: false, maxRate: 0, maxEdge: 16, maxBytes: 1024 },
  accumulate: { enabled: false, frames: 1, seconds: 1, everyMs: 1000, maxEdge: 16, maxBytes: 1024 },
  bytesPerSecond: Number.POSITIVE_INFINITY,
};

/** A pipeline on the slow engine that collects what it publishes. */
function slowPipeline(queueSize: number): { p: Pipeline; results: FrameResult[] } {
  const results: FrameResult[] = [];
  const p = new Pipeline({
    stream: 'main',
    queueSize,
    reconstructor: inThread(new SlowEngine()),
    postprocess: post,
    sinks: [
      {
        publish: (r) => {
          results.push(r);
        },
      },
    ],
  });
  return { p, results };
}

describe('Pipeline', () => {
  it('keeps the newest frames when reconstruction falls behind, counts drops, and times every stage', async () => {
    const { p, results } = slowPipeline(2);
    await p.start(new BurstSource(10));
    await p.stop({ drain: true });
    const s = p.stats();
    expect(s.framesIn).toBe(10);
    // first frame goes straight to the waiting worker; two more fit in the queue
    expect(results.map((r) => r.seq)).toEqual([0, 8, 9]);
    expect(s.dropped).toBe(7);
    expect(s.framesOut).toBe(3);
    for (const r of results) {
      expect(r.timings.reconstruct).toBeGreaterThan(10);
      expect(r.timings.total).toBeGreaterThanOrEqual(r.timings.reconstruct);
      expect(r.localizations.count).toBe(1);
      expect(r.localizations.x[0]).toBeCloseTo(8.5, 1);
    }
    expect(results.at(-1)?.dropped).toBe(7);
  });

  it('a frame that fails is counted and the stream goes on', async () => {
    const { p, results } = slowPipeline(20);
    await p.start(new BurstSource(5, new Set([2])));
    await p.stop({ drain: true });
    expect(p.stats().errors).toBe(1);
    expect(p.stats().lastError).toMatch(/frame 2: .*non-finite/);
    expect(results.map((r) => r.seq)).toEqual([0, 1, 3, 4]);
  });

  it('stop without drain discards the queue', async () => {
    const { p, results } = slowPipeline(20);
    await p.start(new BurstSource(10));
    await p.stop({ drain: false });
    expect(results.length).toBeLessThan(10);
    expect(p.stats().dropped + results.length).toBe(10);
  });

  it('runs the simulated camera through Richardson–Lucy and localises its emitters', async () => {
    const settings = parseSettings({ camera: { type: 'sim', width: 32, height: 32, fps: 50, density: 8, photons: 20000, background: 2 } });
    if (settings.camera.type !== 'sim') throw new Error('sim expected');
    const cam = new SimCamera(settings.camera, { seed: 5 });
    const p = new Pipeline({
      stream: 'main',
      queueSize: 2,
      reconstructor: inThread(new RichardsonLucy('gauss:2', { iterations: 30 })),
      products: { ...NO_IMAGES, image: { enabled: true, maxRate: 100, maxEdge: 4096, maxBytes: 1 << 22 } },
      postprocess: { threshold: 0.2, minDistance: 4, maxLocalizations: 100 },
    });
    const r = await p.processOne(await cam.capture());
    expect(r.output.width).toBe(128);
    // the published image is the whole unit-sum map at full resolution (it fits maxEdge)
    expect(r.image?.bin).toBe(1);
    expect(r.image?.width).toBe(128);
    const truth = r.truth ?? [];
    expect(truth.length).toBeGreaterThan(0);
    // most true emitters have a localisation within one camera pixel
    const locs = columnsToList(r.localizations);
    const near = truth.filter((t) => locs.some((l) => Math.hypot(l.x - t.x, l.y - t.y) < 1));
    expect(near.length / truth.length).toBeGreaterThan(0.6);
  });
});
