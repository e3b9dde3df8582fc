import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BOOT_ID } from '../../../src/boot.ts';
import type { Frame, FrameSource, FrameSourceStats } from '../../../src/camera/types.ts';
import { WorkerEngine } from '../../../src/inference/engine.ts';
import { inThread } from '../../../src/inference/in-thread.ts';
import { sha256Hex } from '../../../src/inference/registry.ts';
import type { MapEngine } from '../../../src/inference/types.ts';
import { readPngText } from '../../../src/io/png.ts';
import { type Image, makeImage } from '../../../src/optics/image.ts';
import { type ImageProducts, OOD_EPISODE_FRAMES, Pipeline } from '../../../src/pipeline/pipeline.ts';
import { checkCalibration, sensorReadNoise } from '../../../src/pipeline/preprocess.ts';
import type { FrameResult } from '../../../src/pipeline/types.ts';
import { TINY_RECEPTIVE_FIELD } from '../../fixtures/tiny-model.ts';
import { spotFrame } from '../inference/helpers.ts';

function frame(seq: number, w = 32, h = 24): Frame {
  const img = makeImage(w, h);
  img.data.fill(1);
  img.data[(h >> 1) * w + (w >> 1)] = 100;
  return { seq, timestamp: Date.now(), image: img, source: 'test' };
}

/** Emits a frame every `ms` until stopped. */
class TickSource implements FrameSource {
  readonly kind = 'tick';
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  constructor(private readonly ms: number) {}
  async start(onFrame: (f: Frame) => void): Promise<void> {
    this.timer = setInterval(() => onFrame(frame(this.seq++)), this.ms);
  }
  async stop(): Promise<void> {
    clearInterval(this.timer);
  }
  async capture(): Promise<Frame> {
    return frame(999);
  }
  stats(): FrameSourceStats {
    return { frames: this.seq, restarts: 0, errors: 0 };
  }
}

/** The unit-sum frame itself, on the camera grid: enough to exercise the frame path. */
const identity: MapEngine = {
  id: 'identity',
  scale: 1,
  fingerprint: 'id',
  provider: 'js',
  async reconstruct(f: Image) {
    let s = 0;
    for (const v of f.data) s += v;
    return makeImage(
      f.width,
      f.height,
      Float32Array.from(f.data, (v) => v / s),
    );
  },
  async close() {},
};

const post = { threshold: 0.5, minDistance: 1, maxLocalizations: 10 };

function products(over: Partial<ImageProducts> = {}): ImageProducts {
  return {
    image: { enabled: true, maxRate: 1000, maxEdge: 64, maxBytes: 1 << 20 },
    accumulate: { enabled: false, frames: 10, seconds: 60, everyMs: 100_000, maxEdge: 64, maxBytes: 1 << 20 },
    bytesPerSecond: Number.POSITIVE_INFINITY,
    ...over,
  };
}

describe('frame accounting', () => {
  it('capture while streaming returns the stream’s next result instead of processing a frame twice', async () => {
    const results: FrameResult[] = [];
    const p = new Pipeline({
      stream: 'main',
      queueSize: 2,
      reconstructor: inThread(identity),
      postprocess: post,
      sinks: [{ publish: (r) => void results.push(r) }],
    });
    await p.start(new TickSource(10));
    const captured = await p.nextResult();
    await p.stop();
    const s = p.stats();
    expect(results.filter((r) => r.seq === captured.seq)).toHaveLength(1);
    expect(s.framesOut).toBe(results.length);
    expect(s.framesIn).toBeGreaterThanOrEqual(s.framesOut + s.dropped);
  });

  it('a frame processed on request counts in as well as out', async () => {
    const p = new Pipeline({ stream: 'main', queueSize: 2, reconstructor: inThread(identity), postprocess: post });
    await p.processOne(frame(1));
    const bad = frame(2);
    bad.image.data[3] = Number.NaN;
    await expect(p.processOne(bad)).rejects.toThrow(/non-finite pixel at x=3, y=0/);
    expect(p.stats()).toMatchObject({ framesIn: 2, framesOut: 1, errors: 1 });
  });

  it('a slow sink backs frames up into the drop-oldest queue, counted, instead of into memory', async () => {
    let inSink = 0;
    let maxConcurrent = 0;
    const p = new Pipeline({
      stream: 'main',
      queueSize: 2,
      reconstructor: inThread(identity),
      postprocess: post,
      sinks: [
        {
          async publish() {
            inSink++;
            maxConcurrent = Math.max(maxConcurrent, inSink);
            await new Promise((r) => setTimeout(r, 40));
            inSink--;
          },
        },
      ],
    });
    await p.start(new TickSource(5));
    await new Promise((r) => setTimeout(r, 400));
    await p.stop({ drain: false });
    const s = p.stats();
    expect(maxConcurrent).toBe(1);
    expect(s.dropped).toBeGreaterThan(0);
    expect(s.framesIn).toBe(s.framesOut + s.dropped + s.errors);
  });
});

describe('image products', () => {
  it('makes the 16-bit image at most maxRate per second, tagged with its frame', async () => {
    const results: FrameResult[] = [];
    const p = new Pipeline({
      stream: 'cam',
      queueSize: 1,
      reconstructor: inThread(identity),
      postprocess: post,
      products: products({ image: { enabled: true, maxRate: 1 / 3600, maxEdge: 64, maxBytes: 1 << 20 } }),
      sinks: [{ publish: (r) => void results.push(r) }],
    });
    for (let i = 0; i < 5; i++) await p.processOne(frame(i));
    const withImage = results.filter((r) => r.image);
    expect(withImage).toHaveLength(1);
    const tag = JSON.parse(readPngText(withImage[0].image?.png as Uint8Array).rayleigh);
    expect(tag).toMatchObject({ stream: 'cam', seq: 0, boot: BOOT_ID, kind: 'image' });
  });

  it('bins a region of interest to the edge budget and skips images the byte budget has no room for', async () => {
    const results: FrameResult[] = [];
    const p = new Pipeline({
      stream: 'main',
      queueSize: 1,
      reconstructor: inThread(identity),
      postprocess: post,
      products: products({
        image: { enabled: true, maxRate: 1e9, maxEdge: 8, maxBytes: 4096, region: { x: 8, y: 4, width: 16, height: 16 } },
        bytesPerSecond: 1024,
      }),
      sinks: [{ publish: (r) => void results.push(r) }],
    });
    for (let i = 0; i < 12; i++) await p.processOne(frame(i));
    const first = results[0].image;
    expect(first?.region).toEqual({ x: 8, y: 4, width: 16, height: 16 });
    expect(first?.bin).toBe(2);
    expect([first?.width, first?.height]).toEqual([8, 8]);
    // a 1 KiB/s budget holds two 4 KiB worst cases at first, then one every few seconds:
    // every due image is either made or counted as skipped
    const made = results.filter((r) => r.image).length;
    expect(made).toBeLessThan(12);
    expect(p.stats().imagesSkipped).toBe(12 - made);
  });

  it('renders the accumulated localisations of recent frames on its schedule', async () => {
    const results: FrameResult[] = [];
    const p = new Pipeline({
      stream: 'main',
      queueSize: 1,
      reconstructor: inThread(identity),
      postprocess: post,
      products: products({
        image: { enabled: false, maxRate: 0, maxEdge: 64, maxBytes: 4096 },
        accumulate: { enabled: true, frames: 3, seconds: 60, everyMs: 100_000, binsPerPixel: 2, maxEdge: 256, maxBytes: 1 << 20 },
      }),
      sinks: [{ publish: (r) => void results.push(r) }],
    });
    for (let i = 0; i < 4; i++) await p.processOne(frame(i));
    // the first frame renders (the gate starts open), then not again within everyMs
    expect(results[0].accumulated).toMatchObject({ frames: 1, localizations: 1, trigger: 'schedule' });
    expect(results.slice(1).every((r) => !r.accumulated)).toBe(true);
  });
});

describe('the accumulated render on request', () => {
  const accumulating = (over: Partial<ImageProducts> = {}) =>
    products({
      image: { enabled: false, maxRate: 0, maxEdge: 64, maxBytes: 4096 },
      accumulate: { enabled: true, frames: 3, seconds: 60, everyMs: 100_000, binsPerPixel: 2, maxEdge: 256, maxBytes: 1 << 20 },
      ...over,
    });

  it('is made by the next frame with the request’s region, grid and window, and resolves once published', async () => {
    const results: FrameResult[] = [];
    let published = 0;
    const p = new Pipeline({
      stream: 'main',
      queueSize: 1,
      reconstructor: inThread(identity),
      postprocess: post,
      products: accumulating({ previews: { everyMs: 1e9, maxEdge: 8, gamma: 0.5 } }),
      sinks: [
        {
          async publish(r) {
            await new Promise((done) => setTimeout(done, 5));
            published++;
            results.push(r);
          },
        },
      ],
    });
    for (let i = 0; i < 4; i++) await p.processOne(frame(i));
    const asked = p.requestAccumulated({ region: { x: 8, y: 4, width: 16, height: 16 }, frames: 2, binsPerPixel: 1 });
    const served = p.processOne(frame(4));
    const r = await asked;
    // resolved with the frame that rendered it, after the sinks published it
    expect(r.seq).toBe(4);
    expect(published).toBe(5);
    expect(r.accumulated).toMatchObject({
      trigger: 'request',
      frames: 2,
      localizations: 2,
      binsPerPixel: 1,
      region: { x: 8, y: 4, width: 16, height: 16 },
      width: 16,
      height: 16,
    });
    const tag = JSON.parse(readPngText(r.accumulated?.png as Uint8Array).rayleigh);
    expect(tag).toMatchObject({ kind: 'accumulated', trigger: 'request', seq: 4, frames: 2 });
    // the dashboard's 8-bit preview, within its edge
    const preview = r.accumulated?.preview as Uint8Array;
    expect(Buffer.from(preview.subarray(1, 4)).toString('latin1')).toBe('PNG');
    expect(Buffer.from(preview).readUInt32BE(16)).toBeLessThanOrEqual(8);
    await served;
    // one request, one render: the next frame carries none (the schedule's gate was marked too)
    await p.processOne(frame(5));
    expect(results.at(-1)?.accumulated).toBeUndefined();
  });

  it('asks for less than the device publishes and keeps, never more; one at a time; off when accumulate is off', async () => {
    const p = new Pipeline({
      stream: 'main',
      queueSize: 1,
      reconstructor: inThread(identity),
      postprocess: post,
      products: accumulating(),
    });
    await expect(p.requestAccumulated({ maxBytes: 2 << 20 })).rejects.toThrow(
      /maxBytes 2097152 exceeds .*pipeline\.accumulate\.maxBytes \(1048576\)/,
    );
    await expect(p.requestAccumulated({ maxEdge: 512 })).rejects.toThrow(/pipeline\.accumulate\.maxEdge \(256\)/);
    await expect(p.requestAccumulated({ frames: 4 })).rejects.toThrow(/pipeline\.accumulate\.frames \(3\)/);
    const first = p.requestAccumulated({});
    await expect(p.requestAccumulated({})).rejects.toThrow(/already pending/);
    await p.processOne(frame(0));
    await expect(first).resolves.toMatchObject({ seq: 0, accumulated: { trigger: 'request', frames: 1 } });
    const off = new Pipeline({ stream: 'main', queueSize: 1, reconstructor: inThread(identity), postprocess: post, products: products() });
    await expect(off.requestAccumulated({})).rejects.toThrow(/pipeline\.accumulate\.enabled: false/);
  });

  it('is withdrawn by its abort signal, and the next frame renders nothing', async () => {
    const results: FrameResult[] = [];
    const p = new Pipeline({
      stream: 'main',
      queueSize: 1,
      reconstructor: inThread(identity),
      postprocess: post,
      products: accumulating(),
      sinks: [{ publish: (r) => void results.push(r) }],
    });
    await p.processOne(frame(0)); // the schedule's first render
    const ac = new AbortController();
    const asked = p.requestAccumulated({}, ac.signal);
    ac.abort(new Error('timed out'));
    await expect(asked).rejects.toThrow('timed out');
    await p.processOne(frame(1));
    expect(results.at(-1)?.accumulated).toBeUndefined();
    // and a new request may be made
    const again = p.requestAccumulated({});
    await p.processOne(frame(2));
    await expect(again).resolves.toMatchObject({ seq: 2 });
  });
});

describe('the event loop only routes', () => {
  it('reads a frame’s pixels once on the main thread (the copy handed to the engine worker)', async () => {
    const bytes = new Uint8Array(readFileSync(new URL('../../fixtures/tiny-fp32.onnx', import.meta.url)));
    const model = {
      path: 'tiny',
      bytes,
      sha256: sha256Hex(bytes),
      entry: {
        id: 'tiny',
        file: 'tiny-fp32.onnx',
        sha256: sha256Hex(bytes),
        task: 'damn' as const,
        precision: 'fp32' as const,
        input: { name: 'input', layout: 'NCHW' as const, normalisation: 'min-sub-unit-sum-x-hw/2500' as const, multiple: 1 },
        output: { name: 'output', scale: 4, meaning: 'test' },
        opset: 13,
        macsPerPixel: 0,
        receptiveField: TINY_RECEPTIVE_FIELD,
        trainedBy: 'tests',
      },
    };
    const engine = await WorkerEngine.onnx(model, { provider: 'cpu', threads: 1, tile: { window: 32, memoryMB: 0.05 } });
    try {
      const img = spotFrame(96, 80, 3, 10);
      let reads = 0;
      const counted = {
        width: img.width,
        height: img.height,
        get data() {
          reads++;
          return img.data;
        },
      };
      const p = new Pipeline({ stream: 'main', queueSize: 1, reconstructor: engine, postprocess: post, products: products() });
      const r = await p.processOne({ seq: 1, timestamp: Date.now(), image: counted, source: 'test' });
      expect(r.tiles).toBeGreaterThan(1);
      expect(r.image?.png.byteLength).toBeGreaterThan(0);
      expect(r.localizations.count).toBeGreaterThan(0);
      expect(reads).toBe(1);
    } finally {
      await engine.close();
    }
  });
});

describe('region of interest and binning', () => {
  it('crops and sum-bins after dark/flat, reports positions in the binned frame with the sensor mapping', async () => {
    const results: FrameResult[] = [];
    const p = new Pipeline({
      stream: 'main',
      queueSize: 1,
      reconstructor: inThread(identity),
      postprocess: post,
      sensor: { roi: { x: 8, y: 4, width: 16, height: 12 }, binning: 2 },
      sinks: [{ publish: (r) => void results.push(r) }],
    });
    const f = frame(1, 32, 24);
    // the bright pixel sits at sensor (16, 12): frame pixel ((16 - 8) / 2, (12 - 4) / 2) = (4, 4)
    f.truth = [{ x: 16.5, y: 12.5, photons: 100 }];
    const r = await p.processOne(f);
    expect(r.input).toEqual({ width: 8, height: 6 });
    expect(r.sensor).toEqual({ x: 8, y: 4, binning: 2 });
    expect(r.localizations.count).toBe(1);
    expect(r.localizations.x[0]).toBeCloseTo(4.5, 0);
    expect(r.localizations.y[0]).toBeCloseTo(4.5, 0);
    expect(r.truth).toEqual([{ x: 4.25, y: 4.25, photons: 100 }]);
    const outside = new Pipeline({
      stream: 'main',
      queueSize: 1,
      reconstructor: inThread(identity),
      postprocess: post,
      sensor: { roi: { x: 30, y: 0, width: 16, height: 8 }, binning: 1 },
    });
    await expect(outside.processOne(frame(2, 32, 24))).rejects.toThrow(/camera.roi .* does not fit the 32×24 sensor/);
  });
});

describe('a region the source read out itself', () => {
  it('gives the same result as cutting it in software, with the sensor-sized dark cut to it', async () => {
    const roi = { x: 8, y: 4, width: 16, height: 12 };
    const dark = makeImage(
      32,
      24,
      Float32Array.from({ length: 32 * 24 }, (_, i) => (i * 7919) % 13),
    );
    const whole = frame(1, 32, 24);
    for (let i = 0; i < whole.image.data.length; i++) whole.image.data[i] += dark.data[i];
    whole.image.data[9 * 32 + 14] += 80;
    /** the part of `whole` from sensor (x, y), w × h, as a camera that read out only that region sends it */
    const readOut = (x: number, y: number, w: number, h: number): Frame => {
      const f: Frame = { ...whole, image: makeImage(w, h), origin: { x, y } };
      for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) f.image.data[r * w + c] = whole.image.data[(r + y) * 32 + c + x];
      return f;
    };
    const run = (f: Frame, sensor: { roi?: typeof roi; binning: number } = { roi, binning: 2 }) =>
      new Pipeline({
        stream: 'main',
        queueSize: 1,
        reconstructor: inThread(identity),
        postprocess: post,
        sensor,
        calibration: { dark },
      }).processOne(f);
    const software = await run(whole);
    expect(software.localizations.count).toBeGreaterThan(0);
    // exactly the ROI (the camera did the crop), and a driver's larger subframe around it
    for (const f of [readOut(8, 4, 16, 12), readOut(4, 2, 24, 20)]) {
      const r = await run(f);
      expect(r.input).toEqual({ width: 8, height: 6 });
      expect(r.sensor).toEqual({ x: 8, y: 4, binning: 2 });
      expect(Array.from(r.localizations.x)).toEqual(Array.from(software.localizations.x));
      expect(Array.from(r.localizations.y)).toEqual(Array.from(software.localizations.y));
      expect(Array.from(r.localizations.photons)).toEqual(Array.from(software.localizations.photons));
    }
    // no ROI configured: the result says where the camera's region sits on the sensor
    const sub = await run(readOut(8, 4, 16, 12), { binning: 1 });
    expect(sub.sensor).toEqual({ x: 8, y: 4, binning: 1 });
    // a read-out region without the ROI, or outside the calibration frames, is an error that says so
    await expect(run(readOut(12, 4, 16, 12))).rejects.toThrow(
      /camera.roi 8,4 16×12 is not inside the 16×12 region the camera read out from sensor \(12, 4\)/,
    );
    await expect(run({ ...readOut(8, 4, 16, 12), origin: { x: 20, y: 4 } }, { binning: 1 })).rejects.toThrow(
      /16x12 frame at sensor \(20, 4\) is outside the 32x24 dark frame/,
    );
  });
});

describe('an sCMOS read-noise map', () => {
  /** a Gaussian spot of 4000 photons at sensor (16.3, 12.6) on a background of 5, no noise */
  function spot(w = 32, h = 24): Frame {
    const img = makeImage(w, h);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        img.data[y * w + x] = 5 + 4000 * (Math.exp(-((x + 0.5 - 16.3) ** 2 + (y + 0.5 - 12.6) ** 2) / 2.25) / (Math.PI * 2.25));
    return { seq: 1, timestamp: Date.now(), image: img, source: 'test' };
  }
  const fitPost = { ...post, fit: 'gauss' as const };
  const run = async (readNoise: Image | undefined, sensor = { binning: 1 }) => {
    const p = new Pipeline({
      stream: 'main',
      queueSize: 1,
      reconstructor: inThread(identity),
      postprocess: fitPost,
      sensor,
      calibration: { readNoise },
    });
    return p.processOne(spot());
  };

  it('weights the fit by each pixel’s own noise, cropped and binned with the frame', async () => {
    const quiet = await run(makeImage(32, 24, new Float32Array(32 * 24).fill(1)));
    const noisy = await run(makeImage(32, 24, new Float32Array(32 * 24).fill(60)));
    expect(quiet.localizations.count).toBe(1);
    expect(noisy.localizations.count).toBe(1);
    const sq = quiet.localizations.fit?.sigmaX[0] as number;
    const sn = noisy.localizations.fit?.sigmaX[0] as number;
    // 60² of read variance per pixel against ~5–280 e⁻ of signal: a much less certain position
    expect(sn).toBeGreaterThan(2 * sq);
    // binned 2×2: the map is binned with the frame (a sensor-sized map would not fit the fit)
    const binned = await run(makeImage(32, 24, new Float32Array(32 * 24).fill(60)), { binning: 2 });
    expect(binned.input).toEqual({ width: 16, height: 12 });
    expect(binned.localizations.fit?.sigmaX[0]).toBeGreaterThan(0);
  });

  it('follows a read-out region that moves: each frame is weighted by its own part of the map', async () => {
    // left half of the sensor noisy, right half quiet; the same spot read out from either half
    const map = makeImage(
      32,
      24,
      Float32Array.from({ length: 32 * 24 }, (_, i) => (i % 32 < 16 ? 60 : 1)),
    );
    const p = new Pipeline({
      stream: 'main',
      queueSize: 1,
      reconstructor: inThread(identity),
      postprocess: fitPost,
      calibration: { readNoise: map },
    });
    const half = (x: number): Frame => {
      const s = spot();
      const f: Frame = { ...s, image: makeImage(16, 24), origin: { x, y: 0 } };
      for (let r = 0; r < 24; r++) for (let c = 0; c < 16; c++) f.image.data[r * 16 + c] = s.image.data[r * 32 + c + 8];
      return f;
    };
    const quiet = await p.processOne(half(16));
    const noisy = await p.processOne(half(0));
    expect(noisy.localizations.fit?.sigmaX[0]).toBeGreaterThan(2 * (quiet.localizations.fit?.sigmaX[0] as number));
  });

  it('says so when the map is not the sensor’s size', async () => {
    await expect(run(makeImage(16, 16, new Float32Array(256).fill(1)))).rejects.toThrow(/read-noise map is 16x16 but the frame is 32x24/);
    expect(() => checkCalibration({ dark: makeImage(32, 24), readNoise: makeImage(16, 16) })).toThrow(
      /dark \(32x24\) and readNoise \(16x16\) differ/,
    );
    expect(() => checkCalibration({ readNoise: makeImage(2, 1, Float32Array.from([1, Number.NaN])) })).toThrow(
      /read-noise map must be finite/,
    );
  });

  it('bins variances, not standard deviations', () => {
    const map = makeImage(4, 2, Float32Array.from([3, 4, 1, 1, 0, 0, 1, 1]));
    const b = sensorReadNoise(map, { binning: 2 });
    // (3² + 4² + 0 + 0) = 25 → 5; (1 + 1 + 1 + 1) = 4 → 2
    expect(Array.from(b)).toEqual([5, 2]);
    expect(sensorReadNoise(map, { binning: 1 })).toBe(map.data);
    // a pixel divided by the flat has its noise divided too
    const flat = makeImage(4, 2, Float32Array.from([0.5, 1, 1, 1, 1, 1, 1, 1]));
    expect(Array.from(sensorReadNoise(map, undefined, flat)).slice(0, 2)).toEqual([6, 4]);
  });
});

describe('out-of-distribution guard', () => {
  it('flags frames whose PSF is wider than the model was trained on, once per episode', async () => {
    const { WorkerEngine: Engine } = await import('../../../src/inference/engine.ts');
    const { loadModel } = await import('../../../src/inference/registry.ts');
    const { Rng } = await import('../../../src/optics/random.ts');
    const { randomScene } = await import('../../../src/optics/scene.ts');
    const { renderFrame } = await import('../../../src/optics/simulate.ts');
    const model = await loadModel('damn', new URL('../../../models-int8', import.meta.url).pathname);
    // the same model, told it was trained only on σ 1–3 px: a σ 6 px frame is outside
    model.entry = { ...model.entry, trainedRanges: { psfWidth: [1, 3] } };
    const engine = await Engine.onnx(model, { provider: 'cpu', threads: 1, tile: { window: 256, memoryMB: 256 } });
    const episodes: Array<{ inRange: boolean; seq: number }> = [];
    try {
      const p = new Pipeline({
        stream: 'main',
        queueSize: 1,
        reconstructor: engine,
        postprocess: post,
        onOutOfRange: (e) => void episodes.push(e),
      });
      const draw = (w: number, seed: number) => {
        const rng = new Rng(seed);
        return renderFrame(
          randomScene(rng, { width: 256, height: 256, density: 3, photons: 5000 }),
          { shape: 'gauss', width: w },
          256,
          256,
          10,
          rng,
        );
      };
      const results: FrameResult[] = [];
      // single wide frames (seq 1, 3) are flagged but start no episode; three in a row (5–7) do,
      // and three in range (8–10) end it
      const widths = [2, 6, 2, 6, 2, 6, 6, 6, 2, 2, 2];
      for (const [i, w] of widths.entries())
        results.push(await p.processOne({ seq: i, timestamp: Date.now(), image: draw(w, 40 + i), source: 'test' }));
      expect(results.map((r) => r.ood?.inRange)).toEqual(widths.map((w) => w === 2));
      expect(results[5].ood?.flags[0]).toMatchObject({ quantity: 'psfWidth', side: 'above' });
      expect(results[5].ood?.psfWidth).toBeGreaterThan(4.5);
      expect(OOD_EPISODE_FRAMES).toBe(3);
      expect(episodes).toEqual([
        { inRange: false, seq: 5, flags: results[5].ood?.flags },
        { inRange: true, seq: 8, flags: [] },
      ]);
      expect(p.stats().outOfRange).toBe(5);
    } finally {
      await engine.close();
    }
  });
});
