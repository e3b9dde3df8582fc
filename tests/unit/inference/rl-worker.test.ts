import { describe, expect, it } from 'vitest';
import { WorkerRichardsonLucy } from '../../../src/inference/rl-reconstructor.ts';
import { Rng } from '../../../src/optics/random.ts';
import { RichardsonLucy } from '../../../src/optics/richardson-lucy.ts';
import { randomScene } from '../../../src/optics/scene.ts';
import { renderFrame } from '../../../src/optics/simulate.ts';

describe('Richardson–Lucy in a worker thread', () => {
  it('gives exactly the in-thread result while the event loop stays free', async () => {
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
    const w = await WorkerRichardsonLucy.create(opts);
    try {
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      const [a, b] = await Promise.all([w.reconstruct(frame), w.reconstruct(frame)]);
      clearInterval(timer);
      expect(ticks).toBeGreaterThan(0);
      expect(a.width).toBe(160);
      expect(Array.from(a.data)).toEqual(Array.from(local.data));
      expect(Array.from(b.data)).toEqual(Array.from(local.data));
      expect(w.fingerprint).toBe(new RichardsonLucy(opts.psf, opts).fingerprint);
    } finally {
      await w.close();
    }
    await expect(w.reconstruct(frame)).rejects.toThrow(/closed/);
    await expect(WorkerRichardsonLucy.create({ ...opts, psf: 'bessel:3' })).rejects.toThrow(/PSF/);
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
    const w = await WorkerRichardsonLucy.create(opts);
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
