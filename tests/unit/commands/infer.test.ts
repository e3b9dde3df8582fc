import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeFitsWithHeader } from '../../../src/io/fits.ts';
import { decodeNpy, encodeNpy } from '../../../src/io/npy.ts';
import { encodePng16 } from '../../../src/io/png.ts';
import { Rng } from '../../../src/optics/random.ts';
import { randomScene } from '../../../src/optics/scene.ts';
import { renderFrame } from '../../../src/optics/simulate.ts';
import { pngDeclaring } from '../../helpers/huge-png.ts';
import { fits16 } from '../camera/indi-fake-server.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const cli = (args: string[]) =>
  spawnSync(process.execPath, [join(root, 'bin', 'rayleigh.mjs'), ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });

describe('rayleigh infer (CLI)', () => {
  it('turns a directory of frames into one unit-sum float32 .npy per input on the 4× grid', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-infer-'));
    const inDir = join(dir, 'in');
    mkdirSync(inDir);
    const rng = new Rng(3);
    for (let i = 0; i < 3; i++) {
      const em = randomScene(rng, { width: 24, height: 20, density: 30, photons: 3000 });
      const img = renderFrame(em, { shape: 'gauss', width: 1.5 }, 24, 20, 5, rng);
      if (i === 2) writeFileSync(join(inDir, `f${i}.png`), encodePng16(img));
      else writeFileSync(join(inDir, `f${i}.npy`), encodeNpy(img));
    }
    writeFileSync(join(inDir, 'notes.txt'), 'ignored');
    const out = join(dir, 'out');
    const r = cli(['infer', '--model', 'rl', '--input', inDir, '--output', out, '--iterations', '10']);
    expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['f0.npy', 'f1.npy', 'f2.npy']);
    for (const f of readdirSync(out)) {
      const buf = readFileSync(join(out, f));
      expect(buf.toString('latin1', 1, 6)).toBe('NUMPY');
      expect(buf.toString('latin1', 0, 128)).toContain("'descr': '<f4'");
      const img = decodeNpy(buf);
      expect([img.width, img.height]).toEqual([96, 80]);
      let sum = 0;
      for (const v of img.data) sum += v;
      expect(sum).toBeCloseTo(1, 4);
    }
  });

  it('a .fits output is the map with the FITS input header carried over and a LOCALIZATIONS table (issue #17)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-infer-fits-'));
    const rng = new Rng(11);
    const em = randomScene(rng, { width: 24, height: 20, density: 30, photons: 5000 });
    const img = renderFrame(em, { shape: 'gauss', width: 1.5 }, 24, 20, 5, rng);
    // a frame as an INDI camera (Ekos) saves it: 16-bit with INSTRUME, EXPTIME, binning, pixel size
    writeFileSync(
      join(dir, 'light.fits'),
      fits16(24, 20, (x, y) => 1000 + Math.round(img.data[y * 24 + x]), { OBJECT: "'M 42'" }),
    );
    const out = join(dir, 'light-sr.fits');
    const r = cli(['infer', '--model', 'rl', '--input', join(dir, 'light.fits'), '--output', out, '--iterations', '10']);
    expect(r.status, r.stderr).toBe(0);
    const file = readFileSync(out);
    expect(file.length % 2880).toBe(0);
    const { image, header } = decodeFitsWithHeader(file);
    expect([image.width, image.height]).toEqual([96, 80]);
    let sum = 0;
    for (const v of image.data) sum += v;
    expect(sum).toBeCloseTo(1, 3);
    expect(header.values.get('INSTRUME')).toBe('CCD Simulator');
    expect(header.values.get('OBJECT')).toBe('M 42');
    expect(header.values.get('EXPTIME')).toBeCloseTo(0.1, 12);
    expect(header.values.get('XPIXSZ')).toBeCloseTo(10.4 / 4, 12);
    expect(header.values.get('RLMODEL')).toBe('rl');
    // the extension after the primary data unit: one row per localisation
    const ext = header.dataStart + Math.ceil((96 * 80 * 4) / 2880) * 2880;
    const card = (key: string) => {
      for (let o = ext; o < file.length; o += 80) {
        const c = file.toString('latin1', o, o + 80);
        if (c.startsWith('END ')) break;
        if (c.slice(0, 8).trim() === key) return c.slice(10).split(' /')[0].trim();
      }
      return undefined;
    };
    expect(card('XTENSION')).toBe("'BINTABLE'");
    expect(card('EXTNAME')).toBe("'LOCALIZATIONS'");
    expect(Number(card('NAXIS2'))).toBeGreaterThan(0);
    // a non-FITS input still gets a FITS result, without camera keywords
    writeFileSync(join(dir, 'plain.npy'), encodeNpy(img));
    const r2 = cli(['infer', '--model', 'rl', '--input', join(dir, 'plain.npy'), '--output', join(dir, 'plain.fits'), '--iterations', '5']);
    expect(r2.status, r2.stderr).toBe(0);
    expect(decodeFitsWithHeader(readFileSync(join(dir, 'plain.fits'))).header.values.has('INSTRUME')).toBe(false);
  });

  it('fails with one clear line, no stack, on bad input', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-infer-bad-'));
    writeFileSync(join(dir, 'broken.npy'), Buffer.from('\x93NUMPY garbage'));
    const r = cli(['infer', '--model', 'rl', '--input', join(dir, 'broken.npy'), '--output', join(dir, 'o.npy')]);
    expect(r.status).not.toBe(0);
    const lines = r.stderr
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('npm warn'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^rayleigh: /);
    const missing = cli(['infer', '--model', 'rl', '--input', join(dir, 'nope.npy'), '--output', join(dir, 'o.npy')]);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/not found/);
    const badModel = cli(['infer', '--model', 'no-such-model', '--input', join(dir, 'broken.npy'), '--output', join(dir, 'o.npy')]);
    expect(badModel.status).not.toBe(0);
    expect(badModel.stderr).not.toMatch(/\n\s+at /);
  });

  it('on a directory, names each bad file, writes every good one and exits non-zero at the end', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-infer-mixed-'));
    const inDir = join(dir, 'in');
    mkdirSync(inDir);
    const rng = new Rng(5);
    const frame = () =>
      renderFrame(randomScene(rng, { width: 16, height: 16, density: 30, photons: 3000 }), { shape: 'gauss', width: 1.5 }, 16, 16, 5, rng);
    writeFileSync(join(inDir, 'a-good.npy'), encodeNpy(frame()));
    writeFileSync(join(inDir, 'b-broken.npy'), Buffer.from('\x93NUMPY garbage'));
    const nan = frame();
    nan.data[7] = Number.NaN;
    writeFileSync(join(inDir, 'c-nan.npy'), encodeNpy(nan));
    writeFileSync(join(inDir, 'd-bomb.png'), pngDeclaring(30_000, 30_000));
    writeFileSync(join(inDir, 'e-good.npy'), encodeNpy(frame()));
    const out = join(dir, 'out');
    const r = cli(['infer', '--model', 'rl', '--input', inDir, '--output', out, '--iterations', '5']);
    expect(r.status).not.toBe(0);
    expect(readdirSync(out).sort()).toEqual(['a-good.npy', 'e-good.npy']);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('rayleigh: '));
    expect(lines.find((l) => l.includes('b-broken.npy'))).toBeDefined();
    expect(lines.find((l) => l.includes('c-nan.npy'))).toMatch(/non-finite/);
    expect(lines.find((l) => l.includes('d-bomb.png'))).toMatch(/exceeds/);
    expect(lines.at(-1)).toMatch(/3 of 5 inputs failed/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
