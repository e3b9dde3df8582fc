import { describe, expect, it } from 'vitest';
import { resolveSettings } from '../../../src/config/load.ts';

describe('camera.type indi settings', () => {
  it('host, port and device are the keys; everything else has a default', () => {
    const s = resolveSettings({ camera: { type: 'indi', host: 'astroberry.local', device: 'CCD Simulator' } }, {});
    expect(s.camera).toEqual({
      type: 'indi',
      binning: 1,
      host: 'astroberry.local',
      port: 7624,
      device: 'CCD Simulator',
      mode: 'passive',
      exposure: 1,
      fps: 1,
      yieldSeconds: 10,
      connect: true,
      blobMode: 'also',
      uploadCheck: true,
      queue: 2,
      maxBlobBytes: 256 * 1024 * 1024,
    });
  });

  it('environment overrides reach it like any other key', () => {
    const s = resolveSettings({ camera: { type: 'indi' } }, { RAYLEIGH_CAMERA__PORT: '7625', RAYLEIGH_CAMERA__MODE: 'active' });
    expect(s.camera).toMatchObject({ type: 'indi', port: 7625, mode: 'active' });
  });

  it('rejects what cannot work, naming the key', () => {
    expect(() => resolveSettings({ camera: { type: 'indi', mode: 'active', blobMode: 'only' } }, {})).toThrow(/blobMode "only"/);
    expect(() => resolveSettings({ camera: { type: 'indi', port: 70000 } }, {})).toThrow(/camera\.port/);
    expect(() => resolveSettings({ camera: { type: 'indi', exposre: 2 } }, {})).toThrow(/exposre/);
  });
});
