import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../../src/optics/random.ts';
import { DEFAULT_DAMN_SPEC, drawDamnSample } from '../../../src/optics/sample.ts';
import {
  decodeStreamHeader,
  encodeStreamHeader,
  encodeStreamRecord,
  STREAM_HEADER_BYTES,
  streamRecordBytes,
} from '../../../src/optics/stream.ts';

describe('sample stream format', () => {
  it('header is 32 bytes: RLSM, version 1, H, W, scale, zeros', () => {
    const h = encodeStreamHeader(48, 64, 4);
    expect(h.length).toBe(32);
    expect(h.toString('ascii', 0, 4)).toBe('RLSM');
    expect([h.readUInt32LE(4), h.readUInt32LE(8), h.readUInt32LE(12), h.readUInt32LE(16)]).toEqual([1, 48, 64, 4]);
    expect([h.readUInt32LE(20), h.readUInt32LE(24), h.readUInt32LE(28)]).toEqual([0, 0, 0]);
    expect(decodeStreamHeader(h)).toEqual({
      version: 1,
      height: 48,
      width: 64,
      scale: 4,
      task: 'damn',
    });
  });

  it('record = params[8] + frame + truth as little-endian float32', () => {
    const spec = {
      ...DEFAULT_DAMN_SPEC,
      width: 20,
      height: 12,
      scale: 3,
      psfShapes: ['airy' as const],
    };
    const s = drawDamnSample(new Rng(1), spec);
    const rec = encodeStreamRecord(s);
    expect(rec.length).toBe(streamRecordBytes(12, 20, 3));
    expect(rec.length).toBe(4 * (8 + 240 + 36 * 60));
    expect(rec.readFloatLE(0)).toBe(1);
    expect(rec.readFloatLE(4)).toBeCloseTo(s.params.psf.width, 5);
    expect(rec.readFloatLE(8)).toBeCloseTo(s.params.photons, 2);
    expect(rec.readFloatLE(12)).toBeCloseTo(s.params.background, 4);
    expect(rec.readFloatLE(16)).toBe(s.emitters.length);
    expect(rec.readFloatLE(32 + 4 * 7)).toBe(s.frame.data[7]);
    expect(rec.readFloatLE(32 + 4 * 240 + 4 * 100)).toBe(s.truth.data[100]);
  });

  it('`rayleigh simulate --stream --count 2` writes header + 2 records and exits 0', async () => {
    const child = spawn(
      process.execPath,
      ['bin/rayleigh.mjs', 'simulate', '--task', 'damn', '--stream', '--count', '2', '--size', '16', '--scale', '2', '--seed', '3'],
      {
        cwd: new URL('../../..', import.meta.url).pathname,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const out = Buffer.concat(chunks);
    expect(code).toBe(0);
    expect(decodeStreamHeader(out)).toEqual({
      version: 1,
      height: 16,
      width: 16,
      scale: 2,
      task: 'damn',
    });
    expect(out.length).toBe(STREAM_HEADER_BYTES + 2 * streamRecordBytes(16, 16, 2));
  }, 30000);
});
