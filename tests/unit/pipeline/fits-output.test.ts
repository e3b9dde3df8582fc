import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { frameMetaFromFits } from '../../../src/camera/indi-meta.ts';
import type { Frame } from '../../../src/camera/types.ts';
import { inThread } from '../../../src/inference/in-thread.ts';
import type { MapEngine } from '../../../src/inference/types.ts';
import { decodeFitsWithHeader, readFitsHeader } from '../../../src/io/fits.ts';
import { type Image, makeImage } from '../../../src/optics/image.ts';
import { FitsResultWriter } from '../../../src/pipeline/fits-output.ts';
import { Pipeline } from '../../../src/pipeline/pipeline.ts';
import { fits16 } from '../camera/indi-fake-server.ts';

/** ×2 nearest-neighbour upsampling, normalised to unit sum: a known map for a known frame */
class Upsample2 implements MapEngine {
  readonly id = 'up2';
  readonly scale = 2;
  readonly fingerprint = 'up2';
  readonly provider = 'js';
  async reconstruct(f: Image): Promise<Image> {
    const out = new Float32Array(f.width * 2 * f.height * 2);
    let s = 0;
    for (const v of f.data) s += 4 * v;
    for (let y = 0; y < f.height * 2; y++)
      for (let x = 0; x < f.width * 2; x++) out[y * f.width * 2 + x] = f.data[(y >> 1) * f.width + (x >> 1)] / s;
    return makeImage(f.width * 2, f.height * 2, out);
  }
  async close(): Promise<void> {}
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** a frame as the INDI source makes it: pixels and the FITS header as meta */
function indiFrame(seq: number, w = 8, h = 6): Frame {
  const file = fits16(w, h, (x, y) => (x === 5 && y === 2 ? 5000 : 10));
  const meta = frameMetaFromFits(readFitsHeader(file));
  const { image } = decodeFitsWithHeader(file);
  return { seq, timestamp: Date.UTC(2026, 11, 1, 22, 36, 25, seq), image, source: 'indi', meta };
}

function pipeline(dir: string, o: { maxRate?: number; maxPixels?: number; keep?: number } = {}) {
  const writer = new FitsResultWriter({ dir, keep: o.keep ?? 100 });
  return new Pipeline({
    stream: 'main',
    queueSize: 4,
    reconstructor: inThread(new Upsample2()),
    postprocess: { threshold: 0.5, minDistance: 1, maxLocalizations: 10 },
    // no rate limit unless asked: at 1000/s two frames within one millisecond were one file
    fits: { maxRate: o.maxRate ?? Number.POSITIVE_INFINITY, maxPixels: o.maxPixels ?? 1 << 20, write: (r, map) => writer.write(r, map) },
  });
}

describe('pipeline.fits: results as FITS files', () => {
  it('writes the map with the camera header keywords and the localisation table', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-fits-out-'));
    dirs.push(dir);
    const p = pipeline(dir);
    const r = await p.processOne(indiFrame(7));
    const files = readdirSync(dir);
    expect(files).toEqual(['rayleigh-main-20261201T223625007Z-7.fits']);
    const file = readFileSync(join(dir, files[0]));
    const { image, header } = decodeFitsWithHeader(file);
    expect([image.width, image.height]).toEqual([16, 12]);
    // the bright pixel (5, 2) is the 2×2 block at (10..11, 4..5)
    expect(image.data[4 * 16 + 10]).toBeCloseTo(5000 / (4 * (5000 + 47 * 10)), 6);
    expect(header.values.get('INSTRUME')).toBe('CCD Simulator');
    expect(header.values.get('DATE-OBS')).toBe('2026-12-01T22:36:24.779');
    expect(header.values.get('XPIXSZ')).toBeCloseTo(10.4 / 2, 12);
    expect(header.values.get('RLSEQ')).toBe(7);
    expect(r.localizations.count).toBeGreaterThan(0);
    // table rows are after the primary data unit (16×12 float32 = one 2880-byte block)
    const ext = header.dataStart + 2880;
    expect(file.toString('latin1', ext, ext + 20)).toBe("XTENSION= 'BINTABLE'");
    const cards = file.toString('latin1', ext, ext + 2880);
    // one row per localisation the result carries; the first row is the first localisation's x
    expect(Number(/NAXIS2 {2}=\s+(\d+) /.exec(cards)?.[1])).toBe(r.localizations.count);
    const data = ext + Math.ceil((cards.indexOf('END     ') / 80 + 1) / 36) * 2880;
    expect(file.readFloatBE(data)).toBeCloseTo(r.localizations.x[0], 5);
    expect(p.stats().fits).toEqual({ written: 1, skipped: 0, failed: 0 });
  });

  it('at most maxRate files per second, the newest `keep` kept, maps over maxPixels skipped and counted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-fits-out-'));
    dirs.push(dir);
    // a file that is not ours stays
    writeFileSync(join(dir, 'notes.fits'), 'x');
    const slow = pipeline(dir, { maxRate: 0.001 });
    await slow.processOne(indiFrame(1));
    await slow.processOne(indiFrame(2));
    expect(readdirSync(dir).sort()).toEqual(['notes.fits', 'rayleigh-main-20261201T223625001Z-1.fits']);

    const kept = pipeline(dir, { keep: 2 });
    for (let i = 3; i <= 6; i++) await kept.processOne(indiFrame(i));
    expect(readdirSync(dir).sort()).toEqual([
      'notes.fits',
      'rayleigh-main-20261201T223625005Z-5.fits',
      'rayleigh-main-20261201T223625006Z-6.fits',
    ]);

    const capped = pipeline(dir, { maxPixels: 16 * 12 - 1 });
    await capped.processOne(indiFrame(8));
    expect(capped.stats().fits).toEqual({ written: 0, skipped: 1, failed: 0 });
    expect(readdirSync(dir)).toHaveLength(3);
  });

  it('a directory that cannot be written is a counted failure; the frame is still published', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-fits-out-'));
    dirs.push(dir);
    // a file where the directory should be
    const blocked = join(dir, 'file');
    writeFileSync(blocked, 'x');
    const p = pipeline(join(blocked, 'fits'));
    const r = await p.processOne(indiFrame(1));
    expect(r.seq).toBe(1);
    expect(p.stats().fits).toEqual({ written: 0, skipped: 0, failed: 1 });
  });
});
