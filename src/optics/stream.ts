/**
 * Binary sample stream of `rayleigh simulate --stream` (the training script reads it; keep it
 * byte-stable). Everything little-endian.
 *
 *   header, once, 32 bytes:
 *     0  char[4]  magic "RLSM"
 *     4  uint32   version = 1
 *     8  uint32   H (camera rows)
 *    12  uint32   W (camera columns)
 *    16  uint32   scale (truth grid is H·scale × W·scale)
 *    20  uint32   task: 0 damn (emitters), 1 unet (nanoholes); was reserved (0) before the nanohole task
 *    24  uint32×2 reserved, 0
 *
 *   then per sample, (8 + H·W + H·scale·W·scale) float32:
 *     float32[8]            params = [psfShape (0 gauss, 1 airy or pupil), psfWidth (camera px),
 *                                     photons per emitter (the brightness scale P),
 *                                     background (mean photons/px), emitterCount,
 *                                     camera + 16·structure, brightness, psfExtra]
 *     float32[H·W]          noisy camera frame, row-major, incl. background: photon counts
 *                           (ideal camera) or ADU (any other camera preset)
 *     float32[Hs·Ws]        truth map, row-major, photons per fine pixel
 *
 *   The last three params were reserved (0) before the realism options and are 0 for the
 *   original simulator, so its streams are unchanged byte for byte:
 *     camera    index in CAMERA_PRESETS (0 ideal, 1 scmos, 2 emccd, 3 cmos-astro)
 *     structure 0 flat, 1 gradient only, 2 blobs only, 3 both
 *     brightness index in BRIGHTNESS_MODELS (0 equal, 1 damn, 2 wide)
 *     psfExtra  pupil: RMS wavefront error (waves); elliptical gauss: σ1/σ2 − 1; else 0
 */
import { BRIGHTNESS_MODELS } from './brightness.ts';
import { CAMERA_PRESETS } from './camera.ts';
import type { NanoholeSample } from './nanohole.ts';
import { zernikeRms } from './pupil.ts';
import type { DamnSample } from './sample.ts';

export const STREAM_MAGIC = 'RLSM';
export const STREAM_VERSION = 1;
export const STREAM_HEADER_BYTES = 32;
export const STREAM_PARAM_COUNT = 8;

export const STREAM_TASKS = ['damn', 'unet'] as const;
export type StreamTask = (typeof STREAM_TASKS)[number];

export function encodeStreamHeader(height: number, width: number, scale: number, task: StreamTask = 'damn'): Buffer {
  const b = Buffer.alloc(STREAM_HEADER_BYTES);
  b.write(STREAM_MAGIC, 0, 'ascii');
  b.writeUInt32LE(STREAM_VERSION, 4);
  b.writeUInt32LE(height, 8);
  b.writeUInt32LE(width, 12);
  b.writeUInt32LE(scale, 16);
  b.writeUInt32LE(STREAM_TASKS.indexOf(task), 20);
  return b;
}

export interface StreamHeader {
  version: number;
  height: number;
  width: number;
  scale: number;
  task: StreamTask;
}

export function decodeStreamHeader(b: Uint8Array): StreamHeader {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (buf.length < STREAM_HEADER_BYTES || buf.toString('ascii', 0, 4) !== STREAM_MAGIC) {
    throw new Error('not a rayleigh sample stream (bad magic)');
  }
  return {
    version: buf.readUInt32LE(4),
    height: buf.readUInt32LE(8),
    width: buf.readUInt32LE(12),
    scale: buf.readUInt32LE(16),
    task: STREAM_TASKS[buf.readUInt32LE(20)] ?? 'damn',
  };
}

export function streamRecordBytes(height: number, width: number, scale: number): number {
  return 4 * (STREAM_PARAM_COUNT + height * width + height * scale * width * scale);
}

const littleEndianHost = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function encodeStreamRecord(s: DamnSample): Buffer {
  const nf = s.frame.data.length;
  const nt = s.truth.data.length;
  const out = Buffer.alloc(4 * (STREAM_PARAM_COUNT + nf + nt));
  const p = s.params;
  const params = [
    p.psf.shape === 'airy' ? 1 : 0,
    p.psf.width,
    p.photons,
    p.background,
    p.emitterCount,
    CAMERA_PRESETS.indexOf(p.camera) + 16 * ((p.structure.gradient > 0 ? 1 : 0) + (p.structure.blobs > 0 ? 2 : 0)),
    BRIGHTNESS_MODELS.indexOf(p.brightness),
    psfExtra(p.psf),
  ];
  if (littleEndianHost) {
    const f = new Float32Array(out.buffer, out.byteOffset, out.length / 4);
    f.set(params, 0);
    f.set(s.frame.data, STREAM_PARAM_COUNT);
    f.set(s.truth.data, STREAM_PARAM_COUNT + nf);
  } else {
    let o = 0;
    for (const v of params) o = out.writeFloatLE(v, o);
    for (const v of s.frame.data) o = out.writeFloatLE(v, o);
    for (const v of s.truth.data) o = out.writeFloatLE(v, o);
  }
  return out;
}

function psfExtra(psf: DamnSample['params']['psf']): number {
  if (psf.shape === 'airy') return zernikeRms(psf.aberration);
  if (psf.widthY !== undefined && psf.widthY !== psf.width) return Math.max(psf.width, psf.widthY) / Math.min(psf.width, psf.widthY) - 1;
  return 0;
}

/**
 * Nanohole (unet) streams use the same framing with H = W = 128 (the 22λ intensity), scale 1
 * (the 128×128 hole map over 2.5λ: a different extent, same size) and task 1. Per sample:
 *   float32[8]   params = [holeCount, largestCluster, pair distance (λ; 0 unless two-hole mode),
 *                          hole radius (λ), frame photons (0: noiseless |U|²), read noise σ (photons),
 *                          camera binning + 16·pixelIntegration, mode (0 random holes, 1 two-hole)]
 *   float32[H·W] recorded intensity, row-major
 *   float32[H·W] hole map, 0/1
 */
export interface NanoholeRecordConditions {
  photons: number;
  readNoise: number;
  binning: number;
  pixelIntegration: boolean;
}

export function encodeNanoholeRecord(s: NanoholeSample, c: NanoholeRecordConditions): Buffer {
  const nf = s.intensity.length;
  const nt = s.truth.length;
  const out = Buffer.alloc(4 * (STREAM_PARAM_COUNT + nf + nt));
  const params = [
    s.holes.length,
    s.largestCluster,
    s.distance ?? 0,
    s.radius,
    c.photons,
    c.readNoise,
    c.binning + (c.pixelIntegration ? 16 : 0),
    s.distance !== undefined ? 1 : 0,
  ];
  if (littleEndianHost) {
    const f = new Float32Array(out.buffer, out.byteOffset, out.length / 4);
    f.set(params, 0);
    f.set(s.intensity, STREAM_PARAM_COUNT);
    f.set(s.truth, STREAM_PARAM_COUNT + nf);
  } else {
    let o = 0;
    for (const v of params) o = out.writeFloatLE(v, o);
    for (const v of s.intensity) o = out.writeFloatLE(v, o);
    for (const v of s.truth) o = out.writeFloatLE(v, o);
  }
  return out;
}
