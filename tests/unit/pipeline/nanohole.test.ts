import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimCamera } from '../../../src/camera/sim.ts';
import { parseSettings } from '../../../src/config/load.ts';
import type { WorkerEngine } from '../../../src/inference/engine.ts';
import { createReconstructor } from '../../../src/inference/registry.ts';
import { readPngText } from '../../../src/io/png.ts';
import { resultMetaSchema, toResultMeta } from '../../../src/mqtt/payloads.ts';
import { makeImage } from '../../../src/optics/image.ts';
import { NANOHOLE, nanoholeInput, simulateNanohole } from '../../../src/optics/nanohole.ts';
import { Rng } from '../../../src/optics/random.ts';
import { holesFromMap, toRecordedGrid } from '../../../src/pipeline/nanohole-path.ts';
import { Pipeline } from '../../../src/pipeline/pipeline.ts';
import type { FrameResult } from '../../../src/pipeline/types.ts';
import { tinyNanoholeReference } from '../../fixtures/tiny-model.ts';
import { tinyUnetModelsDir } from '../../helpers/nanohole-models.ts';

const PITCH = NANOHOLE.inputExtent / NANOHOLE.inputSize;

describe('toRecordedGrid', () => {
  it('is the identity for a 128² frame at the contract pitch', () => {
    const f = makeImage(
      128,
      128,
      Float32Array.from({ length: 128 * 128 }, (_, i) => (i * 7919) % 1000),
    );
    expect(toRecordedGrid(f, { pitch: PITCH, centre: { x: 64, y: 64 } })).toEqual(f.data);
  });

  it('samples a finer camera at the grid points (exact on a linear ramp) and reads 0 outside the frame', () => {
    // 300×260 camera at half the pitch: the 22λ field spans 256 of its pixels around the centre
    const W = 300;
    const H = 260;
    const ramp = (x: number, y: number) => 3 * x + 5 * y + 1; // x, y = index coordinates
    const f = makeImage(
      W,
      H,
      Float32Array.from({ length: W * H }, (_, i) => ramp(i % W, Math.floor(i / W))),
    );
    const centre = { x: 150.25, y: 131.5 };
    const g = toRecordedGrid(f, { pitch: PITCH / 2, centre });
    for (const [i, j] of [
      [0, 0],
      [17, 90],
      [127, 127],
      [64, 3],
    ]) {
      const u = centre.x + (j + 0.5 - 64) * 2 - 0.5;
      const v = centre.y + (i + 0.5 - 64) * 2 - 0.5;
      expect(g[i * 128 + j]).toBeCloseTo(ramp(u, v), 2);
    }
    // a coarse camera whose frame ends before the 22λ field does: the rest is dark
    const small = makeImage(40, 40, new Float32Array(1600).fill(2));
    const s = toRecordedGrid(small, { pitch: PITCH, centre: { x: 20, y: 20 } });
    expect(s[64 * 128 + 64]).toBe(2);
    expect(s[0]).toBe(0);
  });
});

describe('simulated camera, scene nanohole', () => {
  it('records the 22λ intensity of the simulator and gives the hole centres in frame px as truth', async () => {
    const settings = parseSettings({ camera: { type: 'sim', scene: 'nanohole', seed: 33, nanohole: { minHoles: 4, maxHoles: 4 } } });
    if (settings.camera.type !== 'sim') throw new Error('sim expected');
    const f = await new SimCamera(settings.camera).capture();
    const s = simulateNanohole({ minHoles: 4, maxHoles: 4 }, new Rng(33));
    expect(f.image.data).toEqual(s.intensity);
    expect(f.truth?.map((t) => [t.x, t.y])).toEqual(s.holes.map((h) => [64 + h.x / PITCH, 64 + h.y / PITCH]));
    expect(() => parseSettings({ camera: { type: 'sim', scene: 'nanohole', nanohole: { minHoles: 5, maxHoles: 2 } } })).toThrow(
      /camera\.nanohole.*minHoles must not exceed maxHoles/,
    );
  });
});

describe('pipeline on the simulated nanohole instrument', () => {
  let engine: WorkerEngine;
  beforeAll(async () => {
    const dir = tinyUnetModelsDir([{ id: 'unet-tiny', precision: 'int8', gain: 12, bias: -6 }]);
    engine = await createReconstructor('unet-tiny', parseSettings({ inference: { modelsDir: dir, threads: 1 } }));
  }, 60_000);
  afterAll(async () => {
    await engine.close();
  });

  it('publishes the position map and the holes (λ and px) in a meta that validates against its schema', async () => {
    const settings = parseSettings({
      camera: { type: 'sim', scene: 'nanohole', fps: 50, nanohole: { minHoles: 2, maxHoles: 6 } },
      pipeline: { holes: { threshold: 0.5 } },
    });
    if (settings.camera.type !== 'sim') throw new Error('sim expected');
    const cam = new SimCamera(settings.camera, { seed: 9 });
    const results: FrameResult[] = [];
    const p = new Pipeline({
      stream: 'holes',
      queueSize: 4,
      reconstructor: engine,
      postprocess: settings.pipeline.postprocess,
      holes: settings.pipeline.holes,
      products: {
        image: { enabled: true, maxRate: 1000, maxEdge: 1024, maxBytes: 1 << 20 },
        accumulate: { enabled: false, frames: 1, seconds: 1, everyMs: 1000, maxEdge: 64, maxBytes: 1 << 20 },
        bytesPerSecond: Number.POSITIVE_INFINITY,
      },
      sinks: [{ publish: (r) => void results.push(r) }],
    });
    const frames = [await cam.capture(), await cam.capture(), await cam.capture()];
    for (const f of frames) await p.processOne({ ...f, image: { ...f.image, data: Float32Array.from(f.image.data) } });
    expect(results).toHaveLength(3);
    let total = 0;
    for (const [k, r] of results.entries()) {
      const frame = frames[k];
      expect([frame.image.width, frame.image.height]).toEqual([128, 128]);
      // the frame's truth: its holes in frame px
      expect(frame.truth?.length).toBeGreaterThanOrEqual(2);
      // what the worker's model and post-processing must have produced, computed here independently of the worker
      const camera = { pitch: PITCH, centre: { x: 64, y: 64 } };
      const expected = holesFromMap(tinyNanoholeReference(nanoholeInput(frame.image.data)), settings.pipeline.holes, camera);
      const meta = resultMetaSchema.parse(JSON.parse(JSON.stringify(toResultMeta(r))));
      const holes = meta.holes;
      if (!holes) throw new Error('meta has no holes');
      expect(holes.count).toBe(expected.count);
      total += holes.count;
      expect(holes.grid).toEqual({ size: 128, extent: 2.5 });
      expect(holes.camera.pitch).toBeCloseTo(PITCH, 12);
      for (const [i, h] of holes.list.entries()) {
        expect(h.x).toBeCloseTo(expected.holes[i].x, 3);
        expect(h.y).toBeCloseTo(expected.holes[i].y, 3);
        expect(h.px).toBeCloseTo(64 + h.x / PITCH, 2);
        expect(h.py).toBeCloseTo(64 + h.y / PITCH, 2);
      }
      // the holes are the frame's localisations too, so the frame is scored against its truth
      expect(meta.localizations.count).toBe(holes.count);
      expect(meta.localizations.x).toEqual(holes.list.map((h) => Math.round(h.px * 1000) / 1000));
      expect(meta.score?.truth).toBe(frame.truth?.length);
      // the published image is the 2.5λ position map, placed on the frame by its extent
      expect(meta.image?.width).toBe(128);
      const half = 1.25 / PITCH;
      const ext = meta.image?.extent;
      expect(ext?.x).toBeCloseTo(64 - half, 3);
      expect(ext?.y).toBeCloseTo(64 - half, 3);
      expect(ext?.width).toBeCloseTo(2 * half, 3);
      expect(meta.image?.region).toEqual({ x: 56, y: 56, width: 16, height: 16 });
      const text = JSON.parse(readPngText(r.image?.png as Uint8Array).rayleigh) as { kind: string; seq: number };
      expect(text).toMatchObject({ kind: 'position-map', seq: frame.seq });
    }
    expect(total).toBeGreaterThan(0);
  }, 60_000);

  it('a frame whose geometry moves the optical axis moves the px centres, not the λ centres', async () => {
    const settings = parseSettings({ camera: { type: 'sim', scene: 'nanohole', nanohole: { minHoles: 3, maxHoles: 3 } } });
    if (settings.camera.type !== 'sim') throw new Error('sim expected');
    const f = await new SimCamera(settings.camera, { seed: 4 }).capture();
    // the same 128² recording inside a 200×180 frame, its optical axis at (90, 70)
    const big = makeImage(200, 180);
    for (let y = 0; y < 128; y++) for (let x = 0; x < 128; x++) big.data[(y + 6) * 200 + x + 26] = f.image.data[y * 128 + x];
    const run = async (image: typeof big, centre?: { x: number; y: number }) =>
      engine.process({ image, postprocess: settings.pipeline.postprocess, holes: { ...settings.pipeline.holes, centre } });
    const a = await run(f.image);
    const b = await run(big, { x: 90, y: 70 });
    expect(b.holes?.count).toBe(a.holes?.count);
    for (const [i, h] of (b.holes?.holes ?? []).entries()) {
      const g = a.holes?.holes[i];
      expect(h.x).toBeCloseTo(g?.x ?? Number.NaN, 6);
      expect(h.px).toBeCloseTo((g?.px ?? Number.NaN) + 26, 4);
      expect(h.py).toBeCloseTo((g?.py ?? Number.NaN) + 6, 4);
    }
  }, 60_000);
});
