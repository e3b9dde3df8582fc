import { describe, expect, it } from 'vitest';
import { SimCamera } from '../../../src/camera/sim.ts';
import type { Frame } from '../../../src/camera/types.ts';
import { simCameraSchema } from '../../../src/config/camera.ts';

const config = simCameraSchema.parse({
  type: 'sim',
  width: 32,
  height: 24,
  fps: 200,
  density: 30,
  photons: 2000,
  background: 5,
});

describe('SimCamera', () => {
  it('captures frames of the configured size with truth inside the frame', async () => {
    const cam = new SimCamera(config);
    const f = await cam.capture();
    expect(f.image.width).toBe(32);
    expect(f.image.height).toBe(24);
    expect(f.source).toBe('sim');
    expect(f.truth?.length).toBeGreaterThan(0);
    expect(f.truth?.every((e) => e.x >= 0 && e.x < 32 && e.y >= 0 && e.y < 24)).toBe(true);
    const f2 = await cam.capture();
    expect(f2.seq).toBe(f.seq + 1);
  });

  it('with camera.roi, reads out only the region: its size, its origin, truth in sensor pixels, the same scene', async () => {
    const big = { ...config, width: 96, height: 64, density: 40, photons: 20_000, background: 2 };
    const roi = { x: 24, y: 16, width: 40, height: 32 };
    const full = new SimCamera(big, { seed: 7 });
    const whole = await full.capture();
    await full.stop();
    const cam = new SimCamera({ ...big, roi }, { seed: 7 });
    const part = await cam.capture();
    await cam.stop();
    expect(part.image.width).toBe(40);
    expect(part.image.height).toBe(32);
    expect(part.origin).toEqual({ x: 24, y: 16 });
    expect(whole.origin).toBeUndefined();
    // the same scene (same seed): the region's truth is the whole frame's inside the region
    const inside = (whole.truth ?? []).filter((e) => e.x >= 24 && e.x < 64 && e.y >= 16 && e.y < 48);
    expect(part.truth).toEqual(inside);
    expect(inside.length).toBeGreaterThan(5);
    // and its pixels are the whole frame's there, up to their own shot noise
    const a: number[] = [];
    const b: number[] = [];
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 40; x++) {
        a.push(part.image.data[y * 40 + x]);
        b.push(whole.image.data[(y + 16) * 96 + x + 24]);
      }
    const mean = (v: number[]) => v.reduce((s, q) => s + q, 0) / v.length;
    const [ma, mb] = [mean(a), mean(b)];
    let sab = 0;
    let saa = 0;
    let sbb = 0;
    for (let i = 0; i < a.length; i++) {
      sab += (a[i] - ma) * (b[i] - mb);
      saa += (a[i] - ma) ** 2;
      sbb += (b[i] - mb) ** 2;
    }
    expect(sab / Math.sqrt(saa * sbb)).toBeGreaterThan(0.9);
    const outside = new SimCamera({ ...big, roi: { x: 80, y: 0, width: 32, height: 16 } });
    await expect(outside.capture()).rejects.toThrow(/camera.roi 80,0 32×16 does not fit the 96×64 sensor/);
    await outside.stop();
  });

  it('with replay, renders every replay frame (in its worker) before the first goes out, then replays them', async () => {
    // 160×160 renders in the worker (above the in-thread size)
    const cam = new SimCamera(simCameraSchema.parse({ type: 'sim', width: 160, height: 160, density: 10, replay: 2 }));
    try {
      const f0 = await cam.capture();
      // both replay frames exist once the first is out, and the worker is no longer rendering
      expect(cam.stats().frames).toBe(1);
      const f1 = await cam.capture();
      const f2 = await cam.capture();
      expect([f0.seq, f1.seq, f2.seq]).toEqual([0, 1, 2]);
      expect(f1.image).not.toBe(f0.image);
      expect(f2.image).toBe(f0.image);
      expect(f2.truth).toBe(f0.truth);
      // the same numbers as rendering without replay from the same seed
      const plain = new SimCamera(simCameraSchema.parse({ type: 'sim', width: 160, height: 160, density: 10 }));
      const p0 = await plain.capture();
      const p1 = await plain.capture();
      await plain.stop();
      expect(Array.from(f0.image.data.subarray(0, 200))).toEqual(Array.from(p0.image.data.subarray(0, 200)));
      expect(Array.from(f1.image.data.subarray(0, 200))).toEqual(Array.from(p1.image.data.subarray(0, 200)));
    } finally {
      await cam.stop();
    }
  });

  it('uses the scene hook and applies the stage offset', async () => {
    const cam = new SimCamera(
      { ...config, background: 0 },
      {
        scene: () => ({ emitters: [{ x: 10.5, y: 8.5, photons: 50000 }] }),
        offset: () => ({ x: 5, y: -2 }),
      },
    );
    const f = await cam.capture();
    expect(f.truth).toEqual([{ x: 15.5, y: 6.5, photons: 50000 }]);
    let best = 0;
    for (let i = 1; i < f.image.data.length; i++) if (f.image.data[i] > f.image.data[best]) best = i;
    expect(best % 32).toBe(15);
    expect(Math.floor(best / 32)).toBe(6);
  });

  it('falls back to a random scene when the hook returns null', async () => {
    const cam = new SimCamera(config, { scene: () => null });
    const f = await cam.capture();
    expect(f.truth?.length).toBeGreaterThan(0);
  });

  it('streams frames until stopped', async () => {
    const cam = new SimCamera(config);
    const frames: Frame[] = [];
    await new Promise<void>((resolve, reject) => {
      void cam.start((f) => {
        frames.push(f);
        if (frames.length === 3) resolve();
      }, reject);
    });
    await cam.stop();
    const n = frames.length;
    await new Promise((r) => setTimeout(r, 50));
    expect(frames.length).toBe(n);
    expect(frames.map((f) => f.seq)).toEqual([0, 1, 2]);
    expect(cam.stats().frames).toBe(3);
  });

  it('reports hook errors through onError and keeps running', async () => {
    let calls = 0;
    const cam = new SimCamera(config, {
      scene: () => {
        calls++;
        if (calls === 1) throw new Error('dmd offline');
        return null;
      },
    });
    const errors: string[] = [];
    await new Promise<void>((resolve) => {
      void cam.start(
        () => resolve(),
        (e) => errors.push(e.message),
      );
    });
    await cam.stop();
    expect(errors).toEqual(['dmd offline']);
    expect(cam.stats().errors).toBe(1);
  });
});
