import { z } from 'zod';

const psf = z.strictObject({
  shape: z.enum(['gauss', 'airy']).default('gauss'),
  /** PSF width in camera pixels (σ of exp(-r²/σ²), or the Airy scale) */
  width: z.number().positive().max(50).default(2),
});

export const simCameraSchema = z.strictObject({
  type: z.literal('sim'),
  width: z.number().int().min(8).max(4096).default(64),
  height: z.number().int().min(8).max(4096).default(64),
  fps: z.number().positive().max(1000).default(5),
  psf: psf.prefault({}),
  /** emitters per 50×50 camera pixels */
  density: z.number().min(0).max(2000).default(50),
  photons: z.number().positive().default(5000),
  background: z.number().min(0).default(10),
  seed: z.number().int().default(1),
});

export const fileCameraSchema = z.strictObject({
  type: z.literal('file'),
  path: z.string().min(1),
  fps: z.number().positive().max(1000).default(5),
  loop: z.boolean().default(true),
});

export const rpicamCameraSchema = z.strictObject({
  type: z.literal('rpicam'),
  width: z.number().int().min(16).max(9152).default(1456),
  height: z.number().int().min(16).max(6944).default(1088),
  fps: z.number().positive().max(240).default(10),
  /** microseconds; 0 = auto */
  shutter: z.number().int().min(0).default(0),
  gain: z.number().min(0).default(0),
  binary: z.string().default('rpicam-vid'),
  camera: z.number().int().min(0).default(0),
  /** Y-plane row stride in bytes; default align64(width) as the Pi ISP pads YUV420 rows */
  stride: z.number().int().min(16).optional(),
  /** restart rpicam-vid when no frame arrived for this long */
  stallTimeoutMs: z.number().int().min(100).default(5000),
});

export const gstreamerCameraSchema = z.strictObject({
  type: z.literal('gstreamer'),
  width: z.number().int().min(16).max(8192).default(1920),
  height: z.number().int().min(16).max(8192).default(1080),
  fps: z.number().positive().max(240).default(10),
  format: z.enum(['GRAY8', 'GRAY16_LE']).default('GRAY8'),
  sensorId: z.number().int().min(0).default(0),
  binary: z.string().default('gst-launch-1.0'),
  stallTimeoutMs: z.number().int().min(100).default(5000),
});

/** An INDI client (Astroberry, StellarMate, Ekos rigs): frames are the CCD1 BLOBs of an indiserver device. */
export const indiCameraSchema = z
  .strictObject({
    type: z.literal('indi'),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(1).max(65535).default(7624),
    /** INDI device name; absent → the first device with a CCD interface */
    device: z.string().min(1).optional(),
    /** passive: another client (Ekos) takes exposures, rayleigh listens; active: rayleigh exposes when nobody else does */
    mode: z.enum(['passive', 'active']).default('passive'),
    /** active mode: seconds per exposure (CCD_EXPOSURE) */
    exposure: z.number().positive().max(3600).default(1),
    /** active mode: exposures started per second at most */
    fps: z.number().positive().max(100).default(1),
    /** active mode: quiet time after another client's exposure before rayleigh exposes again */
    yieldSeconds: z.number().min(0).max(3600).default(10),
    /** active mode: connect the device (CONNECTION) when it is disconnected */
    connect: z.boolean().default(true),
    /** indiserver enableBLOB: Also (BLOBs and property updates) or Only (BLOBs only: passive mode) */
    blobMode: z.enum(['also', 'only']).default('also'),
    /** fault when the driver's UPLOAD_MODE keeps images on the INDI host (Local) */
    uploadCheck: z.boolean().default(true),
    /** BLOBs waiting to be decoded; more arriving drop the oldest (counted) */
    queue: z.number().int().min(1).max(64).default(2),
    /** largest image accepted, bytes (decoded FITS) */
    maxBlobBytes: z
      .number()
      .int()
      .min(2880)
      .default(256 * 1024 * 1024),
  })
  .refine((c) => !(c.mode === 'active' && c.blobMode === 'only'), {
    message: 'camera.blobMode "only" carries no property updates, so active mode cannot see the exposure state: use blobMode "also"',
  });

export const cameraSchema = z
  .discriminatedUnion('type', [simCameraSchema, fileCameraSchema, rpicamCameraSchema, gstreamerCameraSchema, indiCameraSchema])
  .prefault({ type: 'sim' });

export type CameraConfig = z.output<typeof cameraSchema>;
export type SimCameraConfig = z.output<typeof simCameraSchema>;
export type FileCameraConfig = z.output<typeof fileCameraSchema>;
export type RpicamCameraConfig = z.output<typeof rpicamCameraSchema>;
export type GstreamerCameraConfig = z.output<typeof gstreamerCameraSchema>;
export type IndiCameraConfig = z.output<typeof indiCameraSchema>;
