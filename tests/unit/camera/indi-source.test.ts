import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { IndiFrameSource, type IndiSourceOptions } from '../../../src/camera/indi.ts';
import type { Frame } from '../../../src/camera/types.ts';
import { indiCameraSchema } from '../../../src/config/camera.ts';
import { FaultRegistry } from '../../../src/hardware/faults.ts';
import { blobMessage, defineCcd, exposureState, FakeIndiServer, fits16, until } from './indi-fake-server.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function setup(cfg: Record<string, unknown> = {}, onClient?: (s: Socket) => void, opts: IndiSourceOptions = {}) {
  const srv = new FakeIndiServer();
  if (onClient) srv.onClient = onClient;
  const port = await srv.listen();
  cleanups.push(() => srv.close());
  const config = indiCameraSchema.parse({ type: 'indi', port, ...cfg });
  const src = new IndiFrameSource(config, { backoff: { initialMs: 20, maxMs: 100 }, ...opts });
  cleanups.push(() => src.stop());
  const frames: Frame[] = [];
  const errors: Error[] = [];
  await src.start(
    (f) => frames.push(f),
    (e) => errors.push(e),
  );
  return { srv, src, frames, errors };
}

const ramp = (x: number, y: number) => 1000 + x + 100 * y;

describe('INDI frame source against a scripted server', () => {
  it('asks for properties, enables BLOBs for the CCD device and turns a CCD1 BLOB into a frame with its FITS metadata', async () => {
    const { srv, src, frames, errors } = await setup({}, (s) =>
      s.write(defineCcd({ device: 'Guider' }).replace(/CCD1/g, 'X') + defineCcd()),
    );
    await until(() => src.status().ready, 5000, 'ready');
    expect(srv.sent('getProperties')[0].attrs.version).toBe('1.7');
    // Guider declares a CCD interface but no image property: the device that defines CCD1 wins
    expect(src.status().device).toBe('CCD Simulator');
    const enable = srv.sent('enableBLOB').at(-1);
    expect(enable?.text).toBe('Also');
    expect(enable?.attrs.device).toBe('CCD Simulator');
    srv.write(
      blobMessage(
        fits16(6, 4, () => 1),
        { device: 'Guider' },
      ),
    );
    srv.write(blobMessage(fits16(6, 4, ramp)));
    await until(() => frames.length === 1, 5000, 'frame');
    const f = frames[0];
    expect(f.source).toBe('indi');
    expect([f.image.width, f.image.height]).toEqual([6, 4]);
    expect(f.image.data[0]).toBe(1000);
    expect(f.image.data[5 + 3 * 6]).toBe(1000 + 5 + 300);
    expect(f.meta).toMatchObject({
      device: 'CCD Simulator',
      exposure: 0.1,
      gain: 90,
      binning: { x: 2, y: 2 },
      pixelSize: { x: 10.4, y: 10.4 },
      dateObs: '2026-12-01T22:36:24.779',
    });
    expect(f.meta?.header?.find((c) => c.key === 'EXPTIME')?.value).toBe(0.1);
    expect(errors).toEqual([]);
    expect(src.status()).toMatchObject({ link: 'connected', ready: true, fault: null, frames: 1 });
  });

  it('picks the configured device and ignores BLOBs of others; passive mode never starts an exposure', async () => {
    const { srv, frames } = await setup({ device: 'Main Cam' }, (s) => s.write(defineCcd() + defineCcd({ device: 'Main Cam' })));
    await until(() => srv.sent('enableBLOB').length > 0, 5000, 'enableBLOB');
    expect(srv.sent('enableBLOB').map((c) => c.attrs.device)).toEqual(['Main Cam']);
    srv.write(blobMessage(fits16(4, 4, () => 7)));
    srv.write(
      blobMessage(
        fits16(4, 4, () => 9),
        { device: 'Main Cam' },
      ),
    );
    await until(() => frames.length === 1, 5000, 'frame');
    expect(frames[0].image.data[0]).toBe(9);
    expect(srv.sent('newNumberVector')).toEqual([]);
  });

  it('blobMode only: enableBLOB Only for the configured device, and its images are taken with no definitions at all', async () => {
    const { srv, src, frames } = await setup({ device: 'CCD Simulator', blobMode: 'only' });
    await until(() => srv.sent('enableBLOB').length > 0, 5000, 'enableBLOB');
    expect(srv.sent('enableBLOB').map((c) => [c.attrs.device, c.text])).toEqual([['CCD Simulator', 'Only']]);
    expect(src.status()).toMatchObject({ device: 'CCD Simulator', ready: true });
    srv.write(blobMessage(fits16(3, 2, ramp)));
    await until(() => frames.length === 1, 5000, 'frame');
    expect(frames[0].image.data[2 + 1 * 3]).toBe(ramp(2, 1));
  });

  it('active mode: connects the device, exposes CCD_EXPOSURE at its rate and yields while another client exposes', async () => {
    const { srv, src, frames } = await setup({ mode: 'active', exposure: 0.25, fps: 50, yieldSeconds: 3600 }, (s) =>
      s.write(defineCcd({ connected: false })),
    );
    await until(() => srv.sent('newSwitchVector', 'CONNECTION').length > 0, 5000, 'CONNECT');
    expect(srv.sent('newSwitchVector', 'CONNECTION')[0].members).toEqual([{ name: 'CONNECT', text: 'On' }]);
    srv.write(defineCcd());
    await until(() => srv.sent('newNumberVector', 'CCD_EXPOSURE').length === 1, 5000, 'exposure');
    const cmd = srv.sent('newNumberVector', 'CCD_EXPOSURE')[0];
    expect(cmd.attrs.device).toBe('CCD Simulator');
    expect(cmd.members).toEqual([{ name: 'CCD_EXPOSURE_VALUE', text: '0.25' }]);
    // while our exposure is out, no second one
    srv.write(exposureState('Busy', 0.2));
    await new Promise((r) => setTimeout(r, 100));
    expect(srv.sent('newNumberVector', 'CCD_EXPOSURE')).toHaveLength(1);
    srv.write(exposureState('Ok', 0) + blobMessage(fits16(4, 4, ramp)));
    await until(() => frames.length === 1 && srv.sent('newNumberVector', 'CCD_EXPOSURE').length === 2, 5000, 'second exposure');
    // the second exposure completes; then another client (Ekos) starts one: rayleigh backs off
    // (one write: the client sees both before its next scheduling turn)
    srv.write(exposureState('Ok', 0) + blobMessage(fits16(4, 4, ramp)) + exposureState('Busy', 5));
    await until(() => frames.length === 2, 5000, 'second frame');
    const before = srv.sent('newNumberVector', 'CCD_EXPOSURE').length;
    await new Promise((r) => setTimeout(r, 200));
    expect(src.status().exposing).toBe('other');
    expect(srv.sent('newNumberVector', 'CCD_EXPOSURE').length).toBe(before);
  });

  it('a device name the server does not have is a fault that lists the devices it does have', async () => {
    const { errors, src } = await setup({ device: 'CCD Simulatr' }, (s) => s.write(defineCcd()), { deviceTimeoutMs: 50 });
    await until(() => errors.length > 0, 5000, 'fault');
    expect(errors[0].message).toMatch(/"CCD Simulatr" not found on 127\.0\.0\.1:\d+; devices there: "CCD Simulator"/);
    expect(src.status()).toMatchObject({ link: 'connected', device: null, ready: false });
  });

  it('refuses to expose into UPLOAD_MODE Local and says why; the fault reaches the health registry as "camera"', async () => {
    const faults = new FaultRegistry();
    const { srv, src, errors } = await setup({ mode: 'active', exposure: 0.1, fps: 50 }, (s) => s.write(defineCcd({ upload: 'LOCAL' })), {
      faults,
    });
    await until(() => errors.length > 0, 5000, 'upload fault');
    expect(errors[0].message).toMatch(/UPLOAD_MODE Local.*Client or Both/);
    await new Promise((r) => setTimeout(r, 100));
    expect(srv.sent('newNumberVector', 'CCD_EXPOSURE')).toEqual([]);
    expect(src.status().fault).toMatch(/UPLOAD_MODE/);
    expect(faults.snapshot().camera).toMatchObject({ lastOperation: 'indi upload mode' });
    expect(faults.snapshot().camera.lastMessage).toMatch(/UPLOAD_MODE Local/);
  });

  it('compressed images get a clear error telling to turn compression off; the next plain FITS frame is taken', async () => {
    const { srv, frames, errors, src } = await setup({}, (s) => s.write(defineCcd()));
    await until(() => srv.sent('enableBLOB').length > 0, 5000, 'enableBLOB');
    srv.write(blobMessage(Buffer.from('not really fpack'), { format: '.fits.fz', size: 5000 }));
    await until(() => errors.length > 0, 5000, 'fault');
    expect(errors[0].message).toMatch(/compress.*turn compression off/);
    srv.write(blobMessage(fits16(3, 3, ramp)));
    await until(() => frames.length === 1, 5000, 'frame');
    expect(src.status().fault).toBeNull();
  });

  it('a driver whose CCD_COMPRESSION is Enabled is a fault naming the switch to turn off, before any image arrives', async () => {
    const faults = new FaultRegistry();
    const { errors, src } = await setup({}, (s) => s.write(defineCcd({ compress: true })), { faults });
    await until(() => errors.length > 0, 5000, 'compression fault');
    expect(errors[0].message).toMatch(/"CCD Simulator" compresses its images.*turn compression off.*CCD_COMPRESSION/);
    expect(src.status().fault).toMatch(/compress/);
    expect(faults.snapshot().camera).toMatchObject({ lastOperation: 'indi compression' });
  });

  it('a corrupt BLOB (base64 shorter than announced, broken FITS) is a fault for that frame, the stream goes on', async () => {
    const { srv, frames, errors } = await setup({}, (s) => s.write(defineCcd()));
    await until(() => srv.sent('enableBLOB').length > 0, 5000, 'enableBLOB');
    const good = fits16(3, 3, ramp);
    srv.write(blobMessage(good, { corrupt: true }));
    srv.write(blobMessage(Buffer.from('SIMPLE  =                    T')));
    srv.write(blobMessage(good));
    await until(() => frames.length === 1 && errors.length === 2, 5000, 'frame and faults');
    expect(errors[0].message).toMatch(/announced/);
    expect(errors[1].message).toMatch(/FITS/);
  });

  it('BLOBs arriving faster than they are decoded drop the oldest and count it; memory stays bounded', async () => {
    const { srv, src, frames } = await setup({ queue: 2 }, (s) => s.write(defineCcd()));
    await until(() => srv.sent('enableBLOB').length > 0, 5000, 'enableBLOB');
    const n = 8;
    let burst = '';
    for (let i = 0; i < n; i++) burst += blobMessage(fits16(4, 4, () => i));
    srv.write(burst);
    await until(() => frames.length + src.status().dropped === n, 5000, 'all accounted for');
    expect(src.status().dropped).toBeGreaterThan(0);
    expect(frames.length).toBeLessThanOrEqual(3);
    // the newest always survives
    expect(frames.at(-1)?.image.data[0]).toBe(n - 1);
  });

  it('a device that disappears (delProperty) clears the device state; it is taken again when it comes back', async () => {
    const { srv, src, frames, errors } = await setup({}, (s) => s.write(defineCcd()));
    await until(() => src.status().ready, 5000, 'ready');
    srv.write('<delProperty device="CCD Simulator" timestamp="2026-12-01T22:40:00"/>\n');
    await until(() => errors.length > 0, 5000, 'fault');
    expect(errors[0].message).toMatch(/"CCD Simulator" disappeared/);
    expect(src.status()).toMatchObject({ device: null, ready: false, link: 'connected' });
    srv.write(defineCcd());
    await until(() => src.status().ready, 5000, 'ready again');
    srv.write(blobMessage(fits16(2, 2, ramp)));
    await until(() => frames.length === 1, 5000, 'frame');
  });

  it('malformed XML is a clear stream fault, the connection is dropped and made again; nothing throws', async () => {
    let conns = 0;
    const { srv, src, errors, frames } = await setup({}, (s) => {
      if (++conns === 1)
        s.write(`${defineCcd()}<setNumberVector device="CCD Simulator" name="X"><oneNumber name="a">1</oneNumber></setNumbrVector>`);
      else s.write(defineCcd());
    });
    await until(() => srv.connections === 2 && src.status().ready, 5000, 'reconnected');
    expect(errors[0].message).toMatch(/malformed XML|mismatched/i);
    expect(src.stats().restarts).toBe(1);
    srv.write(blobMessage(fits16(2, 2, ramp)));
    await until(() => frames.length === 1, 5000, 'frame after reconnect');
  });

  it('a stream cut inside a BLOB is reported as truncated; an indiserver restart is recovered without a new source', async () => {
    let conns = 0;
    const { srv, src, errors, frames } = await setup({}, (s) => {
      s.write(defineCcd());
      if (++conns === 1) {
        const half = blobMessage(fits16(64, 64, ramp));
        s.end(half.slice(0, half.length / 2));
      }
    });
    await until(() => errors.some((e) => /truncated/.test(e.message)), 5000, 'truncation fault');
    expect(errors.find((e) => /truncated/.test(e.message))?.message).toMatch(/oneBLOB.*setBLOBVector/);
    await until(() => srv.connections >= 2 && src.status().ready, 5000, 'reconnected');
    srv.write(blobMessage(fits16(2, 2, ramp)));
    await until(() => frames.length === 1, 5000, 'frame');
    expect(src.status().fault).toBeNull();
  });

  it('garbage that is not XML at all, and a refused port, are faults with back-off, never a crash', async () => {
    const { srv, src, errors } = await setup({}, (s) => s.write('HTTP/1.1 400 Bad Request\r\n\r\n'));
    await until(() => errors.length > 0, 5000, 'fault');
    expect(errors[0].message).toMatch(/camera: indi stream failed/);
    await srv.close();
    await until(() => errors.some((e) => /ECONNREFUSED/.test(e.message)), 5000, 'refused');
    expect(src.status().link).not.toBe('connected');
    await src.stop();
    expect(src.status().link).toBe('stopped');
  });

  it('capture() without streaming connects, exposes once in active mode and disconnects', async () => {
    const srv = new FakeIndiServer();
    srv.onClient = (s) => s.write(defineCcd());
    const port = await srv.listen();
    cleanups.push(() => srv.close());
    const src = new IndiFrameSource(indiCameraSchema.parse({ type: 'indi', port, mode: 'active', exposure: 0.01 }));
    const pending = src.capture();
    await until(() => srv.sent('newNumberVector', 'CCD_EXPOSURE').length === 1, 5000, 'exposure');
    srv.write(blobMessage(fits16(5, 5, ramp)));
    const f = await pending;
    expect(f.image.width).toBe(5);
    expect(src.status().link).toBe('stopped');
  });
});
