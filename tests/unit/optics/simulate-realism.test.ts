import { describe, expect, it } from 'vitest';
import { buildDamnSpec } from '../../../src/commands/simulate.ts';
import { UserError } from '../../../src/errors.ts';
import { Rng } from '../../../src/optics/random.ts';
import { DEFAULT_DAMN_SPEC, drawDamnSample } from '../../../src/optics/sample.ts';
import { encodeStreamRecord } from '../../../src/optics/stream.ts';

const cli = {
  task: 'damn',
  size: '32',
  scale: '4',
  psf: 'gauss,airy',
  psfWidth: '0.56:17.8',
  photons: '1:100000',
  background: '1:100',
  density: '5:500',
  brightness: 'equal',
  camera: 'ideal',
  backgroundStructure: 'none',
  aberration: '0.05:0.3',
};

describe('simulate --task damn realism flags', () => {
  it('defaults leave the original simulator: no brightness, camera or structure in the spec', () => {
    const spec = buildDamnSpec(cli);
    expect(spec.brightness).toBeUndefined();
    expect(spec.cameras).toBeUndefined();
    expect(spec.backgroundStructure).toBeUndefined();
    expect(spec.ellipticity).toBeUndefined();
    const a = drawDamnSample(new Rng(4), spec);
    const b = drawDamnSample(new Rng(4), { ...DEFAULT_DAMN_SPEC, width: 32, height: 32, psfWidth: { min: 0.56, max: 17.8 } });
    expect(Buffer.from(a.frame.data.buffer).equals(Buffer.from(b.frame.data.buffer))).toBe(true);
    const rec = encodeStreamRecord(a);
    expect([rec.readFloatLE(20), rec.readFloatLE(24), rec.readFloatLE(28)]).toEqual([0, 0, 0]);
  });

  it('parses the lists and ranges, and records what each sample drew in params[5:8]', () => {
    const spec = buildDamnSpec({
      ...cli,
      psf: 'pupil',
      brightness: 'wide',
      camera: 'emccd',
      backgroundStructure: 'both',
      aberration: '0.2',
    });
    expect(spec.brightness).toEqual(['wide']);
    expect(spec.cameras).toEqual(['emccd']);
    const s = drawDamnSample(new Rng(2), spec);
    expect(s.params.psf.shape).toBe('airy');
    const rec = encodeStreamRecord(s);
    // camera 2 (emccd) + 16·3 (gradient and blobs), brightness 2 (wide), RMS 0.2 waves
    expect(rec.readFloatLE(20)).toBe(2 + 16 * 3);
    expect(rec.readFloatLE(24)).toBe(2);
    expect(rec.readFloatLE(28)).toBeCloseTo(0.2, 6);
    const e = drawDamnSample(new Rng(3), buildDamnSpec({ ...cli, psf: 'gauss', psfEllipticity: '1.5:3' }));
    expect(e.params.psf.widthY).toBeDefined();
    const ratio = (e.params.psf.width as number) / (e.params.psf.widthY as number);
    expect(ratio).toBeGreaterThanOrEqual(1.5);
    expect(ratio).toBeLessThanOrEqual(3);
  });

  it('rejects bad values with a clear error', () => {
    expect(() => buildDamnSpec({ ...cli, brightness: 'gaussian' })).toThrow(UserError);
    expect(() => buildDamnSpec({ ...cli, camera: 'ccd' })).toThrow(/unknown camera "ccd"/);
    expect(() => buildDamnSpec({ ...cli, backgroundStructure: 'stripes' })).toThrow(UserError);
    expect(() => buildDamnSpec({ ...cli, psf: 'lorentz' })).toThrow(/gauss, airy, pupil/);
    expect(() => buildDamnSpec({ ...cli, psfEllipticity: '0.5:2' })).toThrow(/≥ 1/);
    expect(() => buildDamnSpec({ ...cli, aberration: '0.1:0.9' })).toThrow(UserError);
  });
});
