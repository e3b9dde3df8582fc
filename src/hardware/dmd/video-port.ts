/**
 * Masks onto the mirrors through the controller's video port: the board drives the DMD controller
 * as a display (HDMI/DPI → /dev/fbN), so showing a mask is writing a frame. Geometry comes from
 * sysfs (/sys/class/graphics/fbN/{virtual_size,bits_per_pixel,stride}); a lit mirror is a white
 * pixel, a dark one black. MemoryFramebuffer stands in for tests and the simulator.
 */
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../../errors.ts';
import { type Mask, maskFromBits } from '../patterns.ts';

export interface FramebufferInfo {
  width: number;
  height: number;
  bitsPerPixel: number;
  /** bytes per line (may exceed width × bytes per pixel) */
  stride: number;
}

export interface Framebuffer {
  readonly info: FramebufferInfo;
  writeFrame(frame: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

function bytesPerPixel(info: FramebufferInfo): number {
  if (![8, 16, 24, 32].includes(info.bitsPerPixel)) {
    throw new UserError(`framebuffer depth ${info.bitsPerPixel} bpp is not supported (8, 16, 24 or 32)`);
  }
  return info.bitsPerPixel / 8;
}

/** Frame bytes for a mask at the top-left of the framebuffer; the rest stays black. */
export function encodeMaskFrame(mask: Mask, info: FramebufferInfo): Uint8Array {
  const bpp = bytesPerPixel(info);
  if (mask.width > info.width || mask.height > info.height) {
    throw new UserError(`mask ${mask.width}x${mask.height} does not fit the ${info.width}x${info.height} framebuffer`);
  }
  const frame = new Uint8Array(info.stride * info.height);
  for (let y = 0; y < mask.height; y++) {
    const row = y * info.stride;
    for (let x = 0; x < mask.width; x++) {
      if (mask.bits[y * mask.width + x]) frame.fill(0xff, row + x * bpp, row + (x + 1) * bpp);
    }
  }
  return frame;
}

/** The mirror states a frame produces: any non-zero pixel lights its mirror. */
export function decodeFrame(frame: Uint8Array, info: FramebufferInfo, width = info.width, height = info.height): Mask {
  const bpp = bytesPerPixel(info);
  const bits = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const row = y * info.stride;
    for (let x = 0; x < width; x++) {
      let v = 0;
      for (let k = 0; k < bpp; k++) v |= frame[row + x * bpp + k];
      bits[y * width + x] = v ? 1 : 0;
    }
  }
  return maskFromBits(width, height, bits);
}

async function readSysfs(dir: string, name: string): Promise<string> {
  try {
    return (await readFile(path.join(dir, name), 'utf8')).trim();
  } catch (err) {
    throw new UserError(`cannot read ${path.join(dir, name)}: ${(err as Error).message}`);
  }
}

export async function readFramebufferInfo(device: string, sysfsRoot = '/sys/class/graphics'): Promise<FramebufferInfo> {
  const name = path.basename(device);
  if (!/^fb\d+$/.test(name)) throw new UserError(`framebuffer device must look like /dev/fbN, got "${device}"`);
  const dir = path.join(sysfsRoot, name);
  const size = await readSysfs(dir, 'virtual_size');
  const m = /^(\d+),(\d+)$/.exec(size);
  if (!m) throw new UserError(`unexpected ${dir}/virtual_size "${size}"`);
  const width = Number(m[1]);
  const height = Number(m[2]);
  const bitsPerPixel = Number(await readSysfs(dir, 'bits_per_pixel'));
  const stride = Number(await readSysfs(dir, 'stride'));
  const info = { width, height, bitsPerPixel, stride };
  bytesPerPixel(info);
  if (!(stride >= (width * bitsPerPixel) / 8)) throw new UserError(`framebuffer stride ${stride} is shorter than a ${width}-pixel line`);
  return info;
}

/** A Linux framebuffer device file. */
export class LinuxFramebuffer implements Framebuffer {
  private constructor(
    readonly device: string,
    readonly info: FramebufferInfo,
  ) {}

  static async open(device: string, sysfsRoot?: string): Promise<LinuxFramebuffer> {
    return new LinuxFramebuffer(device, await readFramebufferInfo(device, sysfsRoot));
  }

  async writeFrame(frame: Uint8Array): Promise<void> {
    // open per frame: frames are rare (one per mask) and this never holds the device across faults
    const fh = await open(this.device, 'r+');
    try {
      await fh.write(frame, 0, frame.length, 0);
    } finally {
      await fh.close();
    }
  }

  async close(): Promise<void> {}
}

export class MemoryFramebuffer implements Framebuffer {
  readonly info: FramebufferInfo;
  frame: Uint8Array;
  frames = 0;

  constructor(width: number, height: number, bitsPerPixel = 32, stride?: number) {
    this.info = { width, height, bitsPerPixel, stride: stride ?? (width * bitsPerPixel) / 8 };
    this.frame = new Uint8Array(this.info.stride * height);
  }

  async writeFrame(frame: Uint8Array): Promise<void> {
    if (frame.length > this.frame.length) throw new Error(`frame of ${frame.length} bytes exceeds the framebuffer`);
    this.frame = frame.slice();
    this.frames++;
  }

  async close(): Promise<void> {}
}

export class VideoPort {
  constructor(readonly fb: Framebuffer) {}

  async show(mask: Mask): Promise<void> {
    await this.fb.writeFrame(encodeMaskFrame(mask, this.fb.info));
  }

  async blank(): Promise<void> {
    await this.fb.writeFrame(new Uint8Array(this.fb.info.stride * this.fb.info.height));
  }
}
