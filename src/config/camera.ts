import { z } from 'zod';
import { remote } from './remote.ts';

const psf = z.strictObject({
  shape: z.enum(['gauss', 'airy']).default('gauss'),
  /** PSF width in camera pixels (σ of exp(-r²/σ²), or the Airy scale) */
  width: z.number().positive().max(50).default(2),
});

/**
 * What part of the sensor the pipeline processes, for any camera: a region of interest in sensor
 * pixels and a sum-binning factor. Cameras that can read out a region do so (sim renders only it,
 * rpicam crops on the ISP with --roi, INDI in active mode sets CCD_FRAME); for the others the ROI
 * is cut in the engine worker. Binning is always done there, after dark/flat (which stay
 * sensor-sized and are cut to the region). Trades field for frame rate; results are in the
 * cropped, binned frame's pixels, and the meta says how to map them back (sensor = roi.x/y +
 * frame × binning).
 */
export const sensorWindowFields = {
  roi: z
    .strictObject({
      x: z.number().int().min(0),
      y: z.number().int().min(0),
      width: z.number().int().min(8),
      height: z.number().int().min(8),
    })
    .optional(),
  binning: z.number().int().min(1).max(8).default(1),
  /**
   * the camera's photometry: with it, photons in results and the out-of-distribution guard are
   * photo-electrons ((ADU − offset) × gain / emGain); without it, frame units
   */
  photometry: z
    .strictObject({
      /** bias in ADU */
      offset: z.number().min(0).default(0),
      /** e⁻ per ADU */
      gain: z.number().positive(),
      /** EM register gain (EMCCD), 1 otherwise */
      emGain: z.number().min(1).default(1),
      /** read noise, e⁻ RMS at the output (the datasheet figure; after the EM register): weighs the localisation fit */
      readNoise: z.number().min(0).default(0),
    })
    .optional(),
};

export const simCameraSchema = z.strictObject({
  type: z.literal('sim'),
  ...sensorWindowFields,
  width: remote(z.number().int().min(8).max(4096).default(64)),
  height: remote(z.number().int().min(8).max(4096).default(64)),
  fps: remote(z.number().positive().max(1000).default(5)),
  psf: remote(psf.prefault({})),
  /** emitters per 50×50 camera pixels */
  density: remote(z.number().min(0).max(2000).default(50)),
  photons: remote(z.number().positive().max(1e9).default(5000)),
  background: remote(z.number().min(0).max(1e9).default(10)),
  seed: remote(z.number().int().default(1)),
  /**
   * what the simulated instrument images: emitter scenes (the DAMN task) or nanohole samples
   * (the unet task: the recorded 22λ diffraction intensity of random holes, 128×128 px at
   * 22/128 λ per px, from the scalar simulator src/optics/nanohole.ts; width, height, psf,
   * density, photons and background do not apply)
   */
  scene: z.enum(['emitters', 'nanohole']).default('emitters'),
  nanohole: remote(
    z
      .strictObject({
        /** holes per frame, drawn uniformly in minHoles..maxHoles (at most 10, the contract) */
        minHoles: z.number().int().min(1).max(10).default(1),
        maxHoles: z.number().int().min(1).max(10).default(10),
        /** two-hole mode: two holes at this centre distance (λ, touching 0.158 … Rayleigh 0.677) */
        pairDistance: z
          .number()
          .min(1 / 6.33)
          .max(2)
          .optional(),
        /** expected photons per frame (Poisson shot noise); absent: noiseless */
        photons: z.number().positive().max(1e12).optional(),
        /** Gaussian read noise per pixel, photons (needs photons) */
        readNoise: z.number().min(0).max(1e6).optional(),
      })
      .refine((n) => n.minHoles <= n.maxHoles, { message: 'minHoles must not exceed maxHoles' })
      .refine((n) => n.readNoise === undefined || n.photons !== undefined, {
        message: 'readNoise needs photons (the frame photon budget)',
      }),
  ).prefault({}),
  /**
   * render this many random frames once (all of them before the first goes out, then the render
   * worker ends), then replay them in turn with fresh seq and timestamp (0 = render every frame):
   * feeds sensor-sized frames faster than the simulator renders them
   */
  replay: z.number().int().min(0).max(64).default(0),
});

export const fileCameraSchema = z.strictObject({
  type: z.literal('file'),
  ...sensorWindowFields,
  path: z.string().min(1),
  fps: remote(z.number().positive().max(1000).default(5)),
  loop: remote(z.boolean().default(true)),
});

export const rpicamCameraSchema = z.strictObject({
  type: z.literal('rpicam'),
  ...sensorWindowFields,
  width: z.number().int().min(16).max(9152).default(1456),
  height: z.number().int().min(16).max(6944).default(1088),
  fps: remote(z.number().positive().max(240).default(10)),
  /** microseconds; 0 = auto */
  shutter: remote(z.number().int().min(0).max(1e8).default(0)),
  gain: remote(z.number().min(0).max(1000).default(0)),
  binary: z.string().default('rpicam-vid'),
  camera: z.number().int().min(0).default(0),
  /** Y-plane row stride in bytes; default align64(width) as the Pi ISP pads YUV420 rows */
  stride: z.number().int().min(16).optional(),
  /** restart rpicam-vid when no frame arrived for this long */
  stallTimeoutMs: z.number().int().min(100).default(5000),
});

export const gstreamerCameraSchema = z.strictObject({
  type: z.literal('gstreamer'),
  ...sensorWindowFields,
  width: z.number().int().min(16).max(8192).default(1920),
  height: z.number().int().min(16).max(8192).default(1080),
  fps: remote(z.number().positive().max(240).default(10)),
  format: z.enum(['GRAY8', 'GRAY16_LE']).default('GRAY8'),
  sensorId: z.number().int().min(0).default(0),
  binary: z.string().default('gst-launch-1.0'),
  stallTimeoutMs: z.number().int().min(100).default(5000),
});

/** An INDI client (Astroberry, StellarMate, Ekos rigs): frames are the CCD1 BLOBs of an indiserver device. */
export const indiCameraSchema = z
  .strictObject({
    type: z.literal('indi'),
    ...sensorWindowFields,
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
