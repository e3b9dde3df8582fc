import { spawn } from 'node:child_process';
import { z } from 'zod';
import { UserError } from '../errors.ts';
import type { Image } from '../optics/image.ts';
import { signalChild } from '../signal-child.ts';
import { decodeYuv420Luma, yuv420Layout } from './raw-frames.ts';

/*
 * Single stills with rpicam-still, spawned with an argument array.
 *
 * Why not node-libcamera: it assembles a shell command line from its option object and runs it
 * through exec, so any string that reaches it (a file name, an MQTT command's option) is one
 * quote away from shell injection, and it needs the legacy libcamera-still binary name. Spawning
 * rpicam-still directly with a strict whitelist of typed options gives the same capability
 * without a shell. Options outside the whitelist are rejected, never passed through.
 */
export const stillOptionsSchema = z
  .object({
    camera: z.number().int().min(0).max(7).default(0),
    width: z.number().int().min(16).max(9152),
    height: z.number().int().min(16).max(6944),
    /** exposure in µs; 0 = auto */
    shutter: z.number().int().min(0).max(200_000_000).default(0),
    /** analogue gain; 0 = auto */
    gain: z.number().min(0).max(64).default(0),
    /** ms before capture for AE/AWB to settle when auto; ignored with --immediate */
    timeoutMs: z.number().int().min(1).max(60_000).default(1000),
    binary: z
      .string()
      .regex(/^[A-Za-z0-9_./-]+$/, 'binary must be a plain path (letters, digits, _ . / -)')
      .default('rpicam-still'),
  })
  .strict();

export type StillOptions = z.input<typeof stillOptionsSchema>;

export function stillArgs(input: StillOptions): string[] {
  const parsed = stillOptionsSchema.safeParse(input);
  if (!parsed.success) {
    throw new UserError(
      `invalid still options: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`).join('; ')}`,
    );
  }
  const o = parsed.data;
  const args = ['--camera', String(o.camera), '-n', '--width', String(o.width), '--height', String(o.height), '--encoding', 'yuv420'];
  if (o.shutter > 0) args.push('--shutter', String(o.shutter));
  if (o.gain > 0) args.push('--gain', String(o.gain));
  if (o.shutter > 0 && o.gain > 0) args.push('--immediate');
  else args.push('-t', String(o.timeoutMs));
  args.push('-o', '-');
  return args;
}

/**
 * The Y plane of a YUV420 still whose row stride is unknown: the total size fixes it
 * (bytes = stride × H + 2 × stride/2 × ⌈H/2⌉).
 */
export function decodeStill(buf: Uint8Array, width: number, height: number): Image {
  const perStride = height + 2 * Math.ceil(height / 2) * 0.5;
  const stride = buf.length / perStride;
  if (!Number.isInteger(stride) || stride < width) {
    throw new Error(`rpicam-still returned ${buf.length} bytes, which is not a ${width}x${height} YUV420 frame`);
  }
  return decodeYuv420Luma(buf, yuv420Layout(width, height, stride));
}

export async function captureStill(input: StillOptions): Promise<Image> {
  const args = stillArgs(input);
  const o = stillOptionsSchema.parse(input);
  const chunks: Buffer[] = [];
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    const child = spawn(o.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => signalChild(child, 'SIGKILL'), o.timeoutMs + 30_000);
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-500)));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${o.binary}: ${err.message}`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${o.binary} failed (${signal ?? `code ${code}`}): ${stderr.trim().split('\n').at(-1) ?? ''}`));
    });
  });
  return decodeStill(Buffer.concat(chunks), o.width, o.height);
}
