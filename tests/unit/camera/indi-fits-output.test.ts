import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { frameMetaFromFits } from '../../../src/camera/indi-meta.ts';
import { decodeFitsWithHeader, readFitsHeader } from '../../../src/io/fits.ts';
import { encodeResultFits } from '../../../src/io/fits-result.ts';
import { fits16 } from './indi-fake-server.ts';

const hasFitsverify = spawnSync('sh', ['-c', 'command -v fitsverify']).status === 0;

function result() {
  const w = 12;
  const h = 8;
  const data = new Float32Array(w * h);
  data[3 + 2 * w] = 0.75;
  data[9 + 6 * w] = 0.25;
  return {
    seq: 41,
    timestamp: Date.UTC(2026, 11, 1, 22, 36, 25),
    model: { id: 'damn' },
    scale: 4,
    output: { width: w, height: h, data },
    localizations: [
      { x: 0.875, y: 0.625, photons: 3000, peak: 0.75 },
      { x: 2.375, y: 1.625, photons: 1000.5, peak: 0.25 },
    ],
  };
}

/** card text by keyword, read the way the FITS Standard lays them out (80-byte cards, §4.1) */
function cardsAt(buf: Buffer, offset: number): Map<string, string> {
  const out = new Map<string, string>();
  for (let o = offset; o < buf.length; o += 80) {
    const c = buf.toString('latin1', o, o + 80);
    const key = c.slice(0, 8).trim();
    if (key === 'END') break;
    if (c.slice(8, 10) === '= ') out.set(key, c.slice(10).split(' /')[0].trim());
  }
  return out;
}

describe('super-resolved result as FITS (image HDU + LOCALIZATIONS binary table)', () => {
  const inputHeader = frameMetaFromFits(readFitsHeader(fits16(3, 2, () => 0))).header ?? [];
  const file = encodeResultFits(result(), inputHeader);

  it('primary HDU: the output map, the input keywords carried over, grid pixel size divided by the scale', () => {
    const { image, header } = decodeFitsWithHeader(file);
    expect([image.width, image.height]).toEqual([12, 8]);
    expect(image.data[3 + 2 * 12]).toBe(0.75);
    expect(header.values.get('EXTEND')).toBe(true);
    expect(header.values.get('INSTRUME')).toBe('CCD Simulator');
    expect(header.values.get('EXPTIME')).toBeCloseTo(0.1, 12);
    expect(header.values.get('DATE-OBS')).toBe('2026-12-01T22:36:24.779');
    expect(header.values.get('XPIXSZ')).toBeCloseTo(10.4 / 4, 12);
    expect(header.values.get('PIXSIZE1')).toBeCloseTo(5.2, 12);
    expect(header.values.get('XBINNING')).toBe(2);
    expect(header.values.get('RLMODEL')).toBe('damn');
    expect(header.values.get('RLSCALE')).toBe(4);
    expect(header.values.get('RLSEQ')).toBe(41);
    // the copied header's structural cards do not survive: BITPIX is the float map's
    expect(header.values.get('BITPIX')).toBe(-32);
    expect(header.values.has('BZERO')).toBe(false);
  });

  it('extension: BINTABLE with X, Y, PHOTONS, PEAK as big-endian float32 rows', () => {
    const primaryEnd = readFitsHeader(file).dataStart + Math.ceil((12 * 8 * 4) / 2880) * 2880;
    const h = cardsAt(file, primaryEnd);
    expect(h.get('XTENSION')).toBe("'BINTABLE'");
    expect(h.get('NAXIS1')).toBe('16');
    expect(h.get('NAXIS2')).toBe('2');
    expect(h.get('TFIELDS')).toBe('4');
    expect([1, 2, 3, 4].map((i) => h.get(`TTYPE${i}`))).toEqual(["'X       '", "'Y       '", "'PHOTONS '", "'PEAK    '"]);
    expect(h.get('TFORM1')).toBe("'1E      '");
    expect(h.get('EXTNAME')).toBe("'LOCALIZATIONS'");
    let headerCards = 0;
    while (file.toString('latin1', primaryEnd + headerCards * 80, primaryEnd + headerCards * 80 + 3) !== 'END') headerCards++;
    const data = primaryEnd + Math.ceil(((headerCards + 1) * 80) / 2880) * 2880;
    const row = (r: number) => [0, 1, 2, 3].map((f) => file.readFloatBE(data + r * 16 + f * 4));
    expect(row(0)).toEqual([0.875, 0.625, 3000, 0.75]);
    expect(row(1)).toEqual([2.375, 1.625, 1000.5, 0.25]);
    expect(file.length % 2880).toBe(0);
  });

  it('localisations refined by the frame fit add their σ, background and width columns (NaN where the fit failed)', () => {
    const f32 = (...v: number[]) => Float32Array.from(v);
    const locs = {
      count: 2,
      x: f32(0.875, 2.375),
      y: f32(0.625, 1.625),
      photons: f32(3000, 1000.5),
      peak: f32(0.75, 0.25),
      fit: {
        sigmaX: f32(0.0625, Number.NaN),
        sigmaY: f32(0.125, Number.NaN),
        sigmaPhotons: f32(41.25, Number.NaN),
        background: f32(12.5, Number.NaN),
        width: f32(1.5, Number.NaN),
      },
    };
    const fitted = encodeResultFits({ ...result(), localizations: locs }, inputHeader);
    const primaryEnd = readFitsHeader(fitted).dataStart + Math.ceil((12 * 8 * 4) / 2880) * 2880;
    const h = cardsAt(fitted, primaryEnd);
    expect(h.get('TFIELDS')).toBe('9');
    expect(h.get('NAXIS1')).toBe('36');
    expect([5, 6, 7, 8, 9].map((i) => h.get(`TTYPE${i}`))).toEqual([
      "'SIGMA_X '",
      "'SIGMA_Y '",
      "'SIGMA_PHOTONS'",
      "'BACKGROUND'",
      "'PSF_WIDTH'",
    ]);
    let headerCards = 0;
    while (fitted.toString('latin1', primaryEnd + headerCards * 80, primaryEnd + headerCards * 80 + 3) !== 'END') headerCards++;
    const data = primaryEnd + Math.ceil(((headerCards + 1) * 80) / 2880) * 2880;
    const row = (r: number) => Array.from({ length: 9 }, (_, f) => fitted.readFloatBE(data + r * 36 + f * 4));
    expect(row(0)).toEqual([0.875, 0.625, 3000, 0.75, 0.0625, 0.125, 41.25, 12.5, 1.5]);
    expect(row(1).slice(0, 4)).toEqual([2.375, 1.625, 1000.5, 0.25]);
    expect(row(1).slice(4).every(Number.isNaN)).toBe(true);
    if (hasFitsverify) {
      const dir = mkdtempSync(join(tmpdir(), 'rayleigh-fits-'));
      try {
        const path = join(dir, 'fitted.fits');
        writeFileSync(path, fitted);
        const r = spawnSync('fitsverify', ['-q', path], { encoding: 'utf8' });
        expect(r.stdout, r.stdout + r.stderr).toMatch(/verification OK/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it.skipIf(!hasFitsverify)('passes HEASARC fitsverify with no errors or warnings', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-fits-'));
    try {
      const path = join(dir, 'result.fits');
      writeFileSync(path, file);
      const empty = join(dir, 'empty.fits');
      writeFileSync(empty, encodeResultFits({ ...result(), localizations: [] }));
      for (const p of [path, empty]) {
        const r = spawnSync('fitsverify', ['-q', p], { encoding: 'utf8' });
        expect(r.stdout, r.stdout + r.stderr).toMatch(/verification OK/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
