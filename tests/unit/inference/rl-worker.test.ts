import { describe, expect, it } from 'vitest';
import { WorkerEngine } from '../../../src/inference/engine.ts';
import { Rng } from '../../../src/optics/random.ts';
import { RichardsonLucy } from '../../../src/optics/richardson-lucy.ts';
import { randomScene } from '../../../src/optics/scene.ts';
import { renderFrame } from '../../../src/optics/simulate.ts';

describe('Richardson–Lucy in a worker thread', () => {
  it('gives the in-thread result (to float rounding of the re-normalisation) while the event loop stays free', async () => {
    const rng = new Rng(11);
    const frame = renderFrame(
      randomScene(rng, { width: 40, height: 32, density: 30, photons: 4000 }),
      { shape: 'gauss', width: 1.5 },
      40,
      32,
      8,
      rng,
    );
    const opts = { psf: 'gauss:1.5', iterations: 40, tolerance: 0, scale: 4 };
    const local = await new RichardsonLucy(opts.psf, opts).reconstruct(frame);
    const w = await WorkerEngine.rl(opts);
    try {
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      const [a, b] = await Promise.all([w.reconstruct(frame), w.reconstruct(frame)]);
      clearInterval(timer);
      expect(ticks).toBeGreaterThan(0);
      expect(a.width).toBe(160);
      let diff = 0;
      let peak = 0;
      for (let i = 0; i < local.data.length; i++) {
        diff = Math.max(diff, Math.abs(a.data[i] - local.data[i]), Math.abs(b.data[i] - local.data[i]));
        peak = Math.max(peak, local.data[i]);
      }
      expect(diff / peak).toBeLessThan(1e-5);
      expect(w.fingerprint).toBe(new RichardsonLucy(opts.psf, opts).fingerprint);
    } finally {
      await w.close();
    }
    await expect(w.reconstruct(frame)).rejects.toThrow(/closed/);
    await expect(WorkerEngine.rl({ ...opts, psf: 'bessel:3' })).rejects.toThrow(/PSF/);
  });

  it('settles a pending reconstruction when closed (switching engines must not wedge the pipeline)', async () => {
    const rng = new Rng(3);
    const frame = renderFrame(
      randomScene(rng, { width: 64, height: 64, density: 30, photons: 4000 }),
      { shape: 'gauss', width: 1.5 },
      64,
      64,
      8,
      rng,
    );
    const w = await WorkerEngine.rl({ psf: 'gauss:1.5', iterations: 2000, tolerance: 0, scale: 4 });
    const settled = w.reconstruct(frame).then(
      () => 'resolved',
      (e: Error) => e.message,
    );
    // no grace: whatever is still pending is rejected at once rather than left waiting
    await w.close(0);
    expect(await settled).toMatch(/closed/);
  });

  it('closing while a frame is in flight lets that frame finish (a model swap must not strand the pipeline)', async () => {
    const opts = { psf: 'gauss:1.5', iterations: 20, tolerance: 0, scale: 4 };
    const frame = renderFrame(
      randomScene(new Rng(12), { width: 24, height: 24, density: 20, photons: 4000 }),
      { shape: 'gauss', width: 1.5 },
      24,
      24,
      8,
      new Rng(13),
    );
    const w = await WorkerEngine.rl(opts);
    let settled: 'resolved' | 'rejected' | undefined;
    const inFlight = w.reconstruct(frame).then(
      () => {
        settled = 'resolved';
      },
      () => {
        settled = 'rejected';
      },
    );
    await w.close();
    await Promise.resolve();
    expect(settled).toBe('resolved');
    await inFlight;
  });
});
