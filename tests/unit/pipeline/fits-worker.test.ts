import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { frameMetaFromFits } from '../../../src/camera/indi-meta.ts';
import type { Frame } from '../../../src/camera/types.ts';
import { WorkerEngine } from '../../../src/inference/engine.ts';
import type { Reconstructor } from '../../../src/inference/types.ts';
import { decodeFitsWithHeader, readFitsHeader } from '../../../src/io/fits.ts';
import * as fitsResult from '../../../src/io/fits-result.ts';
import { FitsResultWriter } from '../../../src/pipeline/fits-output.ts';
import type { FrameJob, FrameOutput } from '../../../src/pipeline/frame-path.ts';
import { Pipeline } from '../../../src/pipeline/pipeline.ts';
import { fits16 } from '../camera/indi-fake-server.ts';

// counts encodes in this (the main) thread only: the engine worker loads its own copy of the module
vi.mock('../../../src/io/fits-result.ts', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../../src/io/fits-result.ts')>();
  return { ...actual, encodeResultFits: vi.fn(actual.encodeResultFits) };
});

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function indiFrame(seq: number): Frame {
  const file = fits16(8, 6, (x, y) => (x === 5 && y === 2 ? 5000 : 10));
  const meta = frameMetaFromFits(readFitsHeader(file));
  const { image } = decodeFitsWithHeader(file);
  return { seq, timestamp: Date.UTC(2026, 11, 1, 22, 36, 25, seq), image, source: 'indi', meta };
}

/** the engine as the pipeline sees it, recording what crosses the thread boundary */
function recording(r: Reconstructor, jobs: FrameJob[], outs: FrameOutput[]): Reconstructor {
  return {
    id: r.id,
    scale: r.scale,
    fingerprint: r.fingerprint,
    provider: r.provider,
    task: r.task,
    reconstruct: (f) => r.reconstruct(f),
    process: async (job) => {
      jobs.push(job);
      const out = await r.process(job);
      outs.push(out);
      return out;
    },
    setCalibration: (c) => r.setCalibration(c),
    close: () => r.close(),
  };
}

describe('pipeline.fits with the engine in its worker thread', () => {
  it('the file is encoded in the worker: the main thread gets bytes, never the map, and never encodes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-fits-worker-'));
    dirs.push(dir);
    const engine = await WorkerEngine.rl({ psf: 'gauss:1.2', iterations: 10, tolerance: 0, scale: 2 });
    try {
      const jobs: FrameJob[] = [];
      const outs: FrameOutput[] = [];
      const writer = new FitsResultWriter({ dir, keep: 10 });
      const p = new Pipeline({
        stream: 'main',
        queueSize: 2,
        reconstructor: recording(engine, jobs, outs),
        postprocess: { threshold: 0.5, minDistance: 1, maxLocalizations: 10 },
        fits: { maxRate: 1000, maxPixels: 1 << 20, write: (r, bytes) => writer.write(r, bytes) },
      });
      const encode = vi.mocked(fitsResult.encodeResultFits);
      encode.mockClear();
      const frame = indiFrame(3);
      const r = await p.processOne(frame);

      expect(jobs[0].fullMap).toBeFalsy();
      expect(jobs[0].fits).toMatchObject({ seq: 3, timestamp: frame.timestamp, model: { id: 'rl' } });
      expect(outs[0].map).toBeUndefined();
      expect(encode).not.toHaveBeenCalled();
      expect(p.stats().fits).toEqual({ written: 1, skipped: 0, failed: 0 });

      const files = readdirSync(dir);
      expect(files).toEqual(['rayleigh-main-20261201T223625003Z-3.fits']);
      const file = readFileSync(join(dir, files[0]));
      const { image, header } = decodeFitsWithHeader(file);
      expect(header.values.get('INSTRUME')).toBe('CCD Simulator');
      expect(header.values.get('XPIXSZ')).toBeCloseTo(10.4 / 2, 12);
      expect(header.values.get('RLSEQ')).toBe(3);
      expect(header.values.get('RLMODEL')).toBe('rl');
      // the same engine's whole map, asked for directly
      const map = await engine.reconstruct(frame.image);
      expect([image.width, image.height]).toEqual([map.width, map.height]);
      const bright = 4 * 16 + 10;
      expect(image.data[bright]).toBeGreaterThan(0.01);
      expect(image.data[bright]).toBe(map.data[bright]);
      expect(r.localizations.count).toBeGreaterThan(0);
      expect(file.includes("EXTNAME = 'LOCALIZATIONS'")).toBe(true);
    } finally {
      await engine.close();
    }
  });

  it('a map over maxPixels is not made in the worker; the skip is counted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-fits-worker-'));
    dirs.push(dir);
    const engine = await WorkerEngine.rl({ psf: 'gauss:1.2', iterations: 2, tolerance: 0, scale: 2 });
    try {
      const outs: FrameOutput[] = [];
      const writer = new FitsResultWriter({ dir, keep: 10 });
      const p = new Pipeline({
        stream: 'main',
        queueSize: 2,
        reconstructor: recording(engine, [], outs),
        postprocess: { threshold: 0.5, minDistance: 1, maxLocalizations: 10 },
        fits: { maxRate: 1000, maxPixels: 16 * 12 - 1, write: (r, bytes) => writer.write(r, bytes) },
      });
      await p.processOne(indiFrame(1));
      expect(outs[0].fits).toEqual({ skipped: 'the 16×12 map exceeds pipeline.fits.maxPixels (191)' });
      expect(p.stats().fits).toEqual({ written: 0, skipped: 1, failed: 0 });
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      await engine.close();
    }
  });
});
