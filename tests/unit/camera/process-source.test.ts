import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { gstreamerArgs } from '../../../src/camera/gstreamer.ts';
import { ProcessFrameSource } from '../../../src/camera/process-source.ts';
import { decodeYuv420Luma, yuv420Layout } from '../../../src/camera/raw-frames.ts';
import { createRpicamSource, rpicamArgs } from '../../../src/camera/rpicam.ts';
import type { Frame } from '../../../src/camera/types.ts';
import { gstreamerCameraSchema, rpicamCameraSchema } from '../../../src/config/camera.ts';
import { luma } from '../../fixtures/camera/synthetic.mjs';

const fake = fileURLToPath(new URL('../../fixtures/camera/fake-camera.mjs', import.meta.url));
const layout = yuv420Layout(70, 11);

function source(mode: 'exit' | 'stall' | 'stream', frames: number, stallTimeoutMs = 5000) {
  return new ProcessFrameSource({
    kind: 'fake',
    command: process.execPath,
    args: [fake, 'yuv420', '70', '11', '128', String(frames), mode],
    frameBytes: layout.frameBytes,
    decode: (b) => decodeYuv420Luma(b, layout),
    stallTimeoutMs,
    backoff: { initialMs: 20, maxMs: 100 },
  });
}

function until(pred: () => boolean, ms = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const iv = setInterval(() => {
      if (pred()) {
        clearInterval(iv);
        resolve();
      } else if (Date.now() - t0 > ms) {
        clearInterval(iv);
        reject(new Error('condition not reached'));
      }
    }, 10);
  });
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('process frame source', () => {
  it('stamps each frame with the sensor origin of a read-out region', async () => {
    const src = new ProcessFrameSource({
      kind: 'fake',
      command: process.execPath,
      args: [fake, 'yuv420', '70', '11', '128', '2', 'stream'],
      frameBytes: layout.frameBytes,
      decode: (b) => decodeYuv420Luma(b, layout),
      origin: { x: 30, y: 5 },
    });
    const frames: Frame[] = [];
    await src.start(
      (f) => frames.push(f),
      () => {},
    );
    await until(() => frames.length >= 1);
    await src.stop();
    expect(frames[0].origin).toEqual({ x: 30, y: 5 });
    expect(frames[0].image.width).toBe(70);
  });

  it('restarts a child that exits, with backoff, and keeps frame sequence numbers increasing', async () => {
    const src = source('exit', 2);
    const frames: Frame[] = [];
    const errors: Error[] = [];
    await src.start(
      (f) => frames.push(f),
      (e) => errors.push(e),
    );
    await until(() => src.stats().restarts >= 2 && frames.length >= 6);
    await src.stop();
    expect(errors.some((e) => /exited \(code 1\)/.test(e.message))).toBe(true);
    expect(frames.map((f) => f.seq)).toEqual(frames.map((_, i) => i));
    // each run restarts the synthetic pattern at k = 0, 1
    expect(frames[2].image.data[5]).toBe(luma(5, 0, 0));
    expect(frames[3].image.data[5]).toBe(luma(5, 0, 1));
    expect(src.stats().frames).toBe(frames.length);
  });

  it('kills and restarts a stalled child', async () => {
    const src = source('stall', 1, 300);
    const errors: Error[] = [];
    let frames = 0;
    await src.start(
      () => frames++,
      (e) => errors.push(e),
    );
    await until(() => src.stats().restarts >= 1 && frames >= 2);
    await src.stop();
    expect(errors.some((e) => /no frame for 300 ms/.test(e.message))).toBe(true);
  });

  it('stop() kills the child', async () => {
    const src = source('stream', 1);
    await src.start(
      () => {},
      () => {},
    );
    await until(() => src.stats().frames >= 2);
    const pid = src.pid;
    expect(pid).toBeTypeOf('number');
    await src.stop();
    expect(alive(pid as number)).toBe(false);
    const n = src.stats().frames;
    await new Promise((r) => setTimeout(r, 100));
    expect(src.stats().frames).toBe(n);
  });

  it('capture() runs the process for one frame when not streaming', async () => {
    const src = source('stream', 1);
    const f = await src.capture();
    expect(f.image.width).toBe(70);
    expect(f.image.data[3]).toBe(luma(3, 0, 0));
    expect(src.pid).toBeUndefined();
  });

  it('reports a missing binary as an error and keeps retrying', async () => {
    const src = new ProcessFrameSource({
      kind: 'missing',
      command: '/nonexistent/rpicam-vid',
      args: [],
      frameBytes: 10,
      decode: () => {
        throw new Error('unreachable');
      },
      backoff: { initialMs: 10, maxMs: 20 },
    });
    const errors: Error[] = [];
    await src.start(
      () => {},
      (e) => errors.push(e),
    );
    await until(() => src.stats().restarts >= 2);
    await src.stop();
    expect(errors[0].message).toMatch(/ENOENT/);
  });

  it('builds rpicam-vid and gst-launch argument arrays from config', async () => {
    const r = rpicamCameraSchema.parse({
      type: 'rpicam',
      width: 640,
      height: 480,
      fps: 30,
      shutter: 10000,
    });
    expect(rpicamArgs(r)).toEqual([
      '--camera',
      '0',
      '--codec',
      'yuv420',
      '-t',
      '0',
      '-n',
      '--flush',
      '--width',
      '640',
      '--height',
      '480',
      '--framerate',
      '30',
      '--shutter',
      '10000',
      '-o',
      '-',
    ]);
    // a region of interest: cropped on the ISP, delivered at 1:1, the frames say where they are
    const roi = rpicamCameraSchema.parse({
      type: 'rpicam',
      width: 1024,
      height: 1024,
      fps: 30,
      roi: { x: 256, y: 128, width: 512, height: 256 },
    });
    const a = rpicamArgs(roi);
    expect(a.slice(a.indexOf('--width'), a.indexOf('--width') + 4)).toEqual(['--width', '512', '--height', '256']);
    expect(a[a.indexOf('--roi') + 1]).toBe('0.25,0.125,0.5,0.25');
    // the full-resolution mode, so the crop is not of a binned mode
    expect(a[a.indexOf('--mode') + 1]).toBe('1024:1024');
    expect(rpicamArgs(rpicamCameraSchema.parse({ type: 'rpicam', width: 640, height: 480 }))).not.toContain('--mode');
    expect(() => rpicamArgs({ ...roi, roi: { x: 0, y: 0, width: 511, height: 64 } })).toThrow(/even width and height/);
    expect(() => rpicamArgs({ ...roi, roi: { x: 600, y: 0, width: 512, height: 64 } })).toThrow(/does not fit the 1024×1024 sensor mode/);
    const g = gstreamerCameraSchema.parse({
      type: 'gstreamer',
      width: 1280,
      height: 720,
      fps: 7.5,
      format: 'GRAY16_LE',
      sensorId: 1,
    });
    expect(gstreamerArgs(g)).toEqual([
      '-q',
      'nvarguscamerasrc',
      'sensor-id=1',
      '!',
      'video/x-raw(memory:NVMM),width=1280,height=720,framerate=7500/1000',
      '!',
      'nvvidconv',
      '!',
      'video/x-raw,format=GRAY16_LE',
      '!',
      'fdsink',
      'fd=1',
    ]);
    // a config with a bogus binary is spawned verbatim (no shell): it simply fails to start
    const src = createRpicamSource(
      rpicamCameraSchema.parse({
        type: 'rpicam',
        binary: 'rpicam-vid; rm -rf /',
        stallTimeoutMs: 100,
      }),
    );
    const errs: Error[] = [];
    await src.start(
      () => {},
      (e) => errs.push(e),
    );
    await until(() => errs.length > 0);
    await src.stop();
    expect(errs[0].message).toMatch(/ENOENT/);
  });
});
