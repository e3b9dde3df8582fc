import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { buildNanoholeSpec, drawNanohole } from '../../../src/commands/simulate.ts';
import { UserError } from '../../../src/errors.ts';
import { diffractionIntensity, holeMap, NANOHOLE, NANOHOLE_RADIUS } from '../../../src/optics/nanohole.ts';
import { Rng } from '../../../src/optics/random.ts';
import { decodeStreamHeader, encodeNanoholeRecord, STREAM_HEADER_BYTES, streamRecordBytes } from '../../../src/optics/stream.ts';

const cli = {
  holes: '1:10',
  pairFraction: '0',
  pairDistance: '0.158:0.677',
  framePhotons: '0',
  readNoise: '0',
  binning: '1',
};

function run(args: string[]): Promise<{ code: number | null; out: Buffer; err: string }> {
  const child = spawn(process.execPath, ['bin/rayleigh.mjs', 'simulate', '--task', 'unet', ...args], {
    cwd: new URL('../../..', import.meta.url).pathname,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const chunks: Buffer[] = [];
  let err = '';
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out: Buffer.concat(chunks), err })));
}

describe('simulate --task unet', () => {
  it('spec: ranges, pair mode and noise options are validated', () => {
    const spec = buildNanoholeSpec({
      ...cli,
      pairFraction: '0.3',
      framePhotons: '1e5:1e7',
      readNoise: '0:4',
      binning: '2',
      pixelIntegration: true,
    });
    expect(spec).toMatchObject({ minHoles: 1, maxHoles: 10, pairFraction: 0.3, binning: 2, pixelIntegration: true });
    expect(spec.pairDistance.min).toBeGreaterThanOrEqual(NANOHOLE.holeDiameter);
    expect(() => buildNanoholeSpec({ ...cli, holes: '2:11' })).toThrow(UserError);
    expect(() => buildNanoholeSpec({ ...cli, holes: '1.5' })).toThrow(UserError);
    expect(() => buildNanoholeSpec({ ...cli, pairDistance: '0.1:0.5' })).toThrow(/touching/);
    expect(() => buildNanoholeSpec({ ...cli, binning: '3' })).toThrow(/divide/);
    expect(() => buildNanoholeSpec({ ...cli, readNoise: '2' })).toThrow(/frame-photons/);
    expect(() => buildNanoholeSpec({ ...cli, pairFraction: '1.5' })).toThrow(UserError);
  });

  it('draws pairs at the asked fraction and noise within the asked range', () => {
    const spec = buildNanoholeSpec({ ...cli, pairFraction: '0.5', framePhotons: '1e4:1e6', readNoise: '1:2' });
    const rng = new Rng(11);
    let pairs = 0;
    const n = 60;
    for (let i = 0; i < n; i++) {
      const { sample, conditions } = drawNanohole(rng, spec);
      if (sample.distance !== undefined) {
        pairs++;
        expect(sample.distance).toBeGreaterThanOrEqual(0.158);
        expect(sample.distance).toBeLessThanOrEqual(0.677);
      }
      expect(conditions.photons).toBeGreaterThanOrEqual(1e4);
      expect(conditions.photons).toBeLessThanOrEqual(1e6);
      expect(conditions.readNoise).toBeGreaterThanOrEqual(1);
      expect(conditions.readNoise).toBeLessThanOrEqual(2);
    }
    expect(pairs).toBeGreaterThan(15);
    expect(pairs).toBeLessThan(45);
  });

  it('draws a partially transmitting film within the asked ranges; opaque by default', () => {
    const spec = buildNanoholeSpec({ ...cli, filmAmplitude: '0.03:0.15', filmPhase: '70:150' });
    const rng = new Rng(12);
    for (let i = 0; i < 10; i++) {
      const { film } = drawNanohole(rng, spec);
      expect(film?.amplitude).toBeGreaterThanOrEqual(0.03);
      expect(film?.amplitude).toBeLessThanOrEqual(0.15);
      expect(((film?.phase ?? 0) * 180) / Math.PI).toBeGreaterThanOrEqual(70);
      expect(((film?.phase ?? 0) * 180) / Math.PI).toBeLessThanOrEqual(150);
    }
    expect(drawNanohole(rng, buildNanoholeSpec(cli)).film).toBeUndefined();
    expect(() => buildNanoholeSpec({ ...cli, filmAmplitude: '2' })).toThrow(UserError);
  });

  it('draws vector holes within the asked ranges only with --vector; scalar by default', () => {
    const spec = buildNanoholeSpec({ ...cli, vector: true, dipoleRatio: '0:0.3', dipolePhase: '10:350' });
    const rng = new Rng(13);
    for (let i = 0; i < 10; i++) {
      const { dipoles, sample } = drawNanohole(rng, spec);
      expect(dipoles?.ratio).toBeGreaterThanOrEqual(0);
      expect(dipoles?.ratio).toBeLessThanOrEqual(0.3);
      expect(((dipoles?.phase ?? 0) * 180) / Math.PI).toBeGreaterThanOrEqual(10);
      expect(((dipoles?.phase ?? 0) * 180) / Math.PI).toBeLessThanOrEqual(350);
      // the sample's intensity is the vector simulator's for its holes
      const again = diffractionIntensity(sample.holes, NANOHOLE_RADIUS, { dipoles });
      expect(again.every((v, k) => v === sample.intensity[k])).toBe(true);
    }
    expect(drawNanohole(rng, buildNanoholeSpec({ ...cli, vector: true })).dipoles).toEqual({ ratio: 0, phase: 0 });
    expect(drawNanohole(rng, buildNanoholeSpec(cli)).dipoles).toBeUndefined();
    expect(() => buildNanoholeSpec({ ...cli, dipoleRatio: '0.2' })).toThrow(/need --vector/);
    expect(() => buildNanoholeSpec({ ...cli, vector: true, dipolePhase: '400' })).toThrow(UserError);
  });

  it('streams a unet header and records whose fields decode to the sample', async () => {
    const { code, out } = await run(['--stream', '--count', '3', '--seed', '5', '--pair-fraction', '1', '--pair-distance', '0.3:0.3']);
    expect(code).toBe(0);
    const n = NANOHOLE.inputSize;
    expect(decodeStreamHeader(out)).toEqual({ version: 1, height: n, width: n, scale: 1, task: 'unet' });
    const rec = streamRecordBytes(n, n, 1);
    expect(out.length).toBe(STREAM_HEADER_BYTES + 3 * rec);
    for (let k = 0; k < 3; k++) {
      const f = new Float32Array(
        out.buffer.slice(out.byteOffset + STREAM_HEADER_BYTES + k * rec, out.byteOffset + STREAM_HEADER_BYTES + (k + 1) * rec),
      );
      expect([f[0], f[1], f[7]]).toEqual([2, 2, 1]);
      expect(f[2]).toBeCloseTo(0.3, 6);
      expect(f[3]).toBeCloseTo(NANOHOLE_RADIUS, 6);
      const truth = f.subarray(8 + n * n);
      const ones = truth.reduce((a, v) => a + v, 0);
      expect(truth.every((v) => v === 0 || v === 1)).toBe(true);
      // two disks of radius a on the 2.5λ map
      const px = (NANOHOLE.mapExtent / NANOHOLE.mapSize) ** 2;
      expect(ones * px).toBeGreaterThan(1.9 * Math.PI * NANOHOLE_RADIUS ** 2);
      expect(ones * px).toBeLessThan(2.1 * Math.PI * NANOHOLE_RADIUS ** 2);
      expect(Math.max(...f.subarray(8, 8 + n * n))).toBeGreaterThan(1e-3);
    }
  }, 30000);

  it('a record carries exactly the simulated intensity and map', () => {
    const holes = [
      { x: 0.2, y: 0.1 },
      { x: -0.5, y: 0.3 },
      { x: 0.4, y: -0.8 },
    ];
    const intensity = diffractionIntensity(holes, NANOHOLE_RADIUS);
    const truth = holeMap(holes, NANOHOLE_RADIUS);
    const buf = encodeNanoholeRecord(
      { holes, radius: NANOHOLE_RADIUS, intensity, truth, largestCluster: 2 },
      { photons: 1e6, readNoise: 2, binning: 2, pixelIntegration: true },
    );
    const f = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
    expect(Array.from(f.subarray(0, 8))).toEqual([3, 2, 0, Math.fround(NANOHOLE_RADIUS), 1e6, 2, 18, 0]);
    const n = NANOHOLE.inputSize * NANOHOLE.inputSize;
    expect(f[8 + 1234]).toBe(intensity[1234]);
    expect(f.subarray(8 + n).reduce((a, v) => a + v, 0)).toBe(truth.reduce((a, v) => a + v, 0));
  });

  it('rejects bad options with a one-line error and exit code 2', async () => {
    const { code, err } = await run(['--stream', '--holes', '0:3']);
    expect(code).not.toBe(0);
    expect(err.trim().split('\n')).toHaveLength(1);
    expect(err).toMatch(/--holes/);
  }, 30000);
});
