/**
 * Simulated camera: renders emitter scenes through the optics model (PSF, background, shot
 * noise) at the configured frame rate. A simulated DMD can supply the scene and a simulated
 * stage can shift the field of view through the constructor hooks.
 */
import type { SimCameraConfig } from '../config/camera.ts';
import type { Emitter } from '../optics/emitter.ts';
import { makeImage } from '../optics/image.ts';
import { NANOHOLE, simulateNanohole } from '../optics/nanohole.ts';
import { Rng } from '../optics/random.ts';
import { randomScene } from '../optics/scene.ts';
import { checkRoiFits } from '../pipeline/preprocess.ts';
import { packEmitters, SimRenderer } from './sim-render.ts';
import type { Frame, FrameSource, FrameSourceStats } from './types.ts';

export interface SimCameraOptions {
  /** emitters to image (camera px); null or absent → a random scene from the config */
  scene?: () => { emitters: Emitter[] } | null;
  /** shift in camera px added to every emitter (stage position) */
  offset?: () => { x: number; y: number };
  /** override the config seed */
  seed?: number;
}

export class SimCamera implements FrameSource {
  readonly kind = 'sim';
  private readonly config: SimCameraConfig;
  private readonly opts: SimCameraOptions;
  private readonly rng: Rng;
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private readonly renderer = new SimRenderer();
  private readonly replayed: Array<Pick<Frame, 'image' | 'truth'>> = [];
  private readonly counters: FrameSourceStats = {
    frames: 0,
    restarts: 0,
    errors: 0,
  };

  constructor(config: SimCameraConfig, opts: SimCameraOptions = {}) {
    this.config = config;
    this.opts = opts;
    this.rng = new Rng(opts.seed ?? config.seed);
  }

  /**
   * A nanohole sample: the recorded intensity (128² at 22/128 λ per px) and, as truth, the hole
   * centres in frame px (photons 0). Rendered in-thread: 7 ms per sample on this machine.
   */
  private nanoholeFrame(): Frame {
    const n = this.config.nanohole;
    if (n.minHoles > n.maxHoles) throw new Error(`camera.nanohole: minHoles ${n.minHoles} > maxHoles ${n.maxHoles}`);
    const s = simulateNanohole(
      {
        minHoles: n.minHoles,
        maxHoles: n.maxHoles,
        pairDistance: n.pairDistance,
        noise: n.photons ? { photons: n.photons, readNoise: n.readNoise } : undefined,
      },
      this.rng,
    );
    const N = NANOHOLE.inputSize;
    const pitch = NANOHOLE.inputExtent / N;
    this.counters.frames++;
    return {
      seq: this.seq++,
      timestamp: Date.now(),
      image: makeImage(N, N, s.intensity),
      source: 'sim',
      truth: s.holes.map((h) => ({ x: N / 2 + h.x / pitch, y: N / 2 + h.y / pitch, photons: 0 })),
    };
  }

  private async makeFrame(): Promise<Frame> {
    const c = this.config;
    if (c.scene === 'nanohole') return this.nanoholeFrame();
    const supplied = this.opts.scene?.() ?? null;
    if (!supplied && c.replay > 0) {
      // the replayed frames are all rendered before the first goes out: the render worker (its
      // own V8 heap and render buffers) is gone before the pipeline works on a frame
      while (this.replayed.length < c.replay) this.replayed.push(await this.render(c, null));
      if (this.renderer.pendingRenders === 0) await this.renderer.close();
      const r = this.replayed[this.seq % c.replay];
      this.counters.frames++;
      return { seq: this.seq++, timestamp: Date.now(), image: r.image, source: 'sim', truth: r.truth, ...this.origin() };
    }
    const seq = this.seq++;
    const timestamp = Date.now();
    const { image, truth } = await this.render(c, supplied);
    this.counters.frames++;
    return { seq, timestamp, image, source: 'sim', truth, ...this.origin() };
  }

  /** With `camera.roi` the simulated sensor reads out only that region, as a real one can. */
  private origin(): Pick<Frame, 'origin'> {
    const r = this.config.roi;
    return r ? { origin: { x: r.x, y: r.y } } : {};
  }

  /** One random (or supplied) scene rendered, with the emitters inside the frame as its truth. */
  private async render(c: SimCameraConfig, supplied: { emitters: Emitter[] } | null): Promise<Pick<Frame, 'image' | 'truth'>> {
    const base = supplied
      ? supplied.emitters
      : randomScene(this.rng, {
          width: c.width,
          height: c.height,
          density: c.density,
          photons: c.photons,
        });
    const off = this.opts.offset?.() ?? { x: 0, y: 0 };
    const emitters = base.map((e) => ({
      x: e.x + off.x,
      y: e.y + off.y,
      photons: e.photons,
    }));
    // the noise draws its own seed, so a frame is the same whether it renders here or in the worker
    const seed = this.rng.nextU32();
    // the read-out region: the ROI (checked against the sensor here, once per frame) or the sensor
    const roi = c.roi ?? { x: 0, y: 0, width: c.width, height: c.height };
    checkRoiFits(roi, c.width, c.height);
    // emitters just outside the region still shine into it: everything is rendered, shifted
    const image = await this.renderer.render({
      emitters: packEmitters(roi.x || roi.y ? emitters.map((e) => ({ ...e, x: e.x - roi.x, y: e.y - roi.y })) : emitters),
      psf: c.psf,
      width: roi.width,
      height: roi.height,
      background: c.background,
      seed,
    });
    // truth stays in sensor pixels, like every source's
    const truth = emitters.filter((e) => e.x >= roi.x && e.x < roi.x + roi.width && e.y >= roi.y && e.y < roi.y + roi.height);
    return { image, truth };
  }

  async capture(): Promise<Frame> {
    return this.makeFrame();
  }

  async start(onFrame: (frame: Frame) => void, onError: (err: Error) => void): Promise<void> {
    if (this.running) return;
    this.running = true;
    const period = 1000 / this.config.fps;
    let next = Date.now();
    const tick = async (): Promise<void> => {
      this.timer = null;
      if (!this.running) return;
      try {
        const frame = await this.makeFrame();
        if (this.running) onFrame(frame);
      } catch (err) {
        this.counters.errors++;
        this.counters.lastError = (err as Error).message;
        onError(err as Error);
      }
      if (!this.running) return;
      // fixed schedule so pacing does not drift; if we fell behind, resynchronise
      next += period;
      const now = Date.now();
      if (next < now) next = now;
      this.timer = setTimeout(() => void tick(), next - now);
    };
    this.timer = setTimeout(() => void tick(), 0);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.renderer.close();
  }

  stats(): FrameSourceStats {
    return { ...this.counters };
  }
}
