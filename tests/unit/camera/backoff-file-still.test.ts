import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Backoff } from '../../../src/camera/backoff.ts';
import { FileFrameSource } from '../../../src/camera/file.ts';
import { stillArgs } from '../../../src/camera/libcamera-still.ts';
import type { Frame } from '../../../src/camera/types.ts';
import { UserError } from '../../../src/errors.ts';
import { makeImage } from '../../../src/optics/image.ts';

describe('backoff', () => {
  it('doubles up to the cap and resets', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000 });
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 800, 1000]);
    b.reset();
    expect(b.next()).toBe(100);
    expect(() => new Backoff({ initialMs: 0 })).toThrow(RangeError);
  });
});

describe('file replay', () => {
  it('replays a directory in name order, loops, and skips non-images', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'replay-'));
    try {
      for (const n of ['b.npy', 'a.npy', 'c.tiff', 'notes.txt']) await writeFile(join(dir, n), n);
      // stand-in reader: encodes the file name's first letter as pixel value
      const read = async (p: string) => makeImage(2, 2, new Float32Array(4).fill(basename(p).charCodeAt(0)));
      const src = new FileFrameSource({ path: dir, fps: 200, loop: true }, read);
      expect((await src.list()).map((p) => p.split('/').at(-1))).toEqual(['a.npy', 'b.npy', 'c.tiff']);
      const frames: Frame[] = [];
      await src.start(
        (f) => frames.push(f),
        () => {},
      );
      await new Promise<void>((r) => {
        const iv = setInterval(() => {
          if (frames.length >= 5) {
            clearInterval(iv);
            r();
          }
        }, 5);
      });
      await src.stop();
      expect(frames.slice(0, 5).map((f) => String.fromCharCode(f.image.data[0]))).toEqual(['a', 'b', 'c', 'a', 'b']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('stops at the end without loop, and reports bad paths as user errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'replay-'));
    try {
      await writeFile(join(dir, 'one.png'), 'x');
      const src = new FileFrameSource({ path: join(dir, 'one.png'), fps: 500, loop: false }, async () => makeImage(1, 1));
      const frames: Frame[] = [];
      await src.start(
        (f) => frames.push(f),
        () => {},
      );
      await new Promise((r) => setTimeout(r, 50));
      expect(frames).toHaveLength(1);
      await src.stop();
      await expect(
        new FileFrameSource({
          path: join(dir, 'missing'),
          fps: 1,
          loop: true,
        }).capture(),
      ).rejects.toThrow(UserError);
      await writeFile(join(dir, 'x.txt'), '');
      const empty = await mkdtemp(join(tmpdir(), 'replay-empty-'));
      await expect(new FileFrameSource({ path: empty, fps: 1, loop: true }).list()).rejects.toThrow(/no images/);
      await rm(empty, { recursive: true });
      const failing = new FileFrameSource({ path: join(dir, 'one.png'), fps: 1, loop: true }, async () => {
        throw new Error('corrupt');
      });
      await expect(failing.capture()).rejects.toThrow(/cannot read .*one.png: corrupt/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('rpicam-still options', () => {
  it('builds an argument array and rejects anything outside the whitelist', () => {
    expect(stillArgs({ width: 640, height: 480, shutter: 20000, gain: 2 })).toEqual([
      '--camera',
      '0',
      '-n',
      '--width',
      '640',
      '--height',
      '480',
      '--encoding',
      'yuv420',
      '--shutter',
      '20000',
      '--gain',
      '2',
      '--immediate',
      '-o',
      '-',
    ]);
    expect(() => stillArgs({ width: 640, height: 480, binary: 'rpicam-still; reboot' })).toThrow(/plain path/);
    expect(() =>
      stillArgs({
        width: 640,
        height: 480,
        extra: '--post-process-file x',
      } as never),
    ).toThrow(UserError);
    expect(() => stillArgs({ width: 640, height: -1 })).toThrow(/height/);
  });
});
