import { z } from 'zod';
import { PEAK_DEFAULTS } from '../inference/peaks.ts';
import { DEFAULT_MODELS_DIR } from './install-paths.ts';
import { live, remote } from './remote.ts';

/** A rectangle in camera pixels. */
export const regionSchema = z.strictObject({
  x: z.number().int().min(0),
  y: z.number().int().min(0),
  width: z.number().int().min(1),
  height: z.number().int().min(1),
});

/**
 * What bounds a published PNG: its longest edge, its bytes, and the part of the frame it covers.
 * The bare bounds are shared with requests that override them (the `render_accumulated` command).
 */
export const publishedImageBounds = {
  /** longest edge in pixels: the map is sum-binned by an integer factor to fit */
  maxEdge: z.number().int().min(16).max(16384),
  /** PNG bytes at most; a bigger encode is binned 2× more until it fits */
  maxBytes: z
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024),
  /** camera-pixel region; absent = the whole frame */
  region: regionSchema,
};

const publishedImageFields = {
  maxEdge: publishedImageBounds.maxEdge.default(1024),
  maxBytes: publishedImageBounds.maxBytes.default(393_216),
  region: publishedImageBounds.region.optional(),
};

/** Which localisations the accumulated render histograms, and on what grid. */
export const accumulateWindowBounds = {
  /** localisations of at most this many recent frames… */
  frames: z.number().int().min(1).max(100_000),
  /** …and at most this old */
  seconds: z.number().min(0.1).max(86_400),
  /** histogram bins per camera pixel (default: the model's scale) */
  binsPerPixel: z.number().int().min(1).max(16),
};

export const pipelineSchema = z
  .strictObject({
    /** name used in result topics: …/result/<stream>/… */
    stream: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .default('main'),
    /** frames buffered between capture and reconstruction; the oldest is dropped when full */
    queueSize: remote(z.number().int().min(1).max(1000).default(4)),
    /** start streaming at daemon start */
    autostart: remote(z.boolean().default(true)),
    preprocess: z
      .strictObject({
        /** .npy dark frame subtracted from every frame */
        dark: z.string().optional(),
        /** .npy flat field every frame is divided by (after dark) */
        flat: z.string().optional(),
        /**
         * .npy sCMOS read-noise map, ADU rms per sensor pixel (`rayleigh calibrate dark
         * --read-noise`): the localisation fit weights each pixel by its own noise
         */
        readNoise: z.string().optional(),
      })
      .prefault({}),
    postprocess: live(
      z.strictObject({
        /** relative peak threshold (fraction of the max on the output grid) */
        threshold: z.number().min(0).max(1).default(PEAK_DEFAULTS.threshold),
        /** minimum distance between peaks, output pixels */
        minDistance: z.number().int().min(1).default(PEAK_DEFAULTS.minDistance),
        maxLocalizations: z.number().int().min(0).max(1_000_000).default(2000),
        /**
         * continuous localisations: `gauss` refines each peak by a maximum-likelihood fit of a
         * pixel-integrated Gaussian to the camera frame (src/optics/gauss-fit.ts) and reports its
         * Cramér–Rao uncertainties; `none` keeps the map's centroids (4× sub-pixel grid)
         */
        fit: z.enum(['gauss', 'none']).default('gauss'),
      }),
    ).prefault({}),
    /**
     * nanohole (unet) models: where the 2.5λ position map lies on the camera frame and how holes are
     * picked from it (src/inference/holes.ts). The frame is resampled onto the contract's recorded
     * grid (128 px over 22λ, centred on `centre`) before the network; with the defaults and a
     * 128×128 frame that is the identity
     */
    holes: live(
      z.strictObject({
        /** camera pixel pitch in λ (after camera.roi/binning); the contract's recorded grid is 22/128 */
        pitch: z
          .number()
          .positive()
          .max(100)
          .default(22 / 128),
        /** frame position (px, pixel centres at index + 0.5) of the optical axis; absent = the frame's centre */
        centre: z.strictObject({ x: z.number(), y: z.number() }).optional(),
        /** map probability at or above which a pixel belongs to a hole */
        threshold: z.number().gt(0).max(1).default(0.5),
        /** blobs smaller than this fraction of one hole's disk are dropped */
        minFraction: z.number().min(0).max(1).default(0.25),
        /** split blobs holding several disks' area into that many holes (touching holes) */
        split: z.boolean().default(true),
        maxHoles: z.number().int().min(1).max(1000).default(64),
      }),
    ).prefault({}),
    /** the super-resolved image on …/result/<stream>/image: a region and/or preview, rate- and size-bounded */
    image: remote(
      z.strictObject({
        enabled: z.boolean().default(true),
        /** images per second at most (0 = never) */
        maxRate: z.number().min(0).max(30).default(1),
        ...publishedImageFields,
      }),
    ).prefault({}),
    /**
     * results as FITS files (the map with the camera's header keywords + a LOCALIZATIONS table) in
     * `dir` (relative to stateDir), for astronomers; off by default. The full map is made only for
     * the frames written: at most `maxRate` per second and `maxPixels` map pixels (4 bytes each)
     */
    fits: z
      .strictObject({
        enabled: z.boolean().default(false),
        dir: z.string().min(1).default('fits'),
        maxRate: z.number().gt(0).max(30).default(0.2),
        /** the newest this many files are kept, older ones deleted */
        keep: z.number().int().min(1).max(1_000_000).default(100),
        maxPixels: z
          .number()
          .int()
          .min(1)
          .max(1 << 28)
          .default(1 << 24),
      })
      .prefault({}),
    /** the accumulated render on …/result/<stream>/accumulated: recent localisations histogrammed */
    accumulate: remote(
      z.strictObject({
        enabled: z.boolean().default(true),
        frames: accumulateWindowBounds.frames.default(200),
        seconds: accumulateWindowBounds.seconds.default(60),
        /** publish every this many ms (and on request: the render_accumulated command) */
        everyMs: z.number().int().min(100).max(3_600_000).default(5000),
        binsPerPixel: accumulateWindowBounds.binsPerPixel.optional(),
        ...publishedImageFields,
      }),
    ).prefault({}),
  })
  .prefault({});

export const inferenceSchema = z
  .strictObject({
    /** model id from models-int8/manifest.json, or "rl" for Richardson–Lucy */
    /** live: set_config loads the new model and swaps it in (a model that fails to load leaves the running one) */
    model: live(z.string().min(1).max(200).default('damn')),
    /** cpu | cuda | tensorrt: onnxruntime-node, probed at start, falling back to wasm (onnxruntime-web) when it cannot run here */
    provider: remote(z.enum(['cpu', 'wasm', 'cuda', 'tensorrt']).default('cpu')),
    threads: remote(z.number().int().min(1).max(64).default(2)),
    /** default: models-int8/ of the installation (not of the current directory) */
    modelsDir: z.string().default(DEFAULT_MODELS_DIR),
    /**
     * "rl": run Richardson–Lucy when the configured model fails its hash or cannot load at start
     * (loudly: a fault and an error log). Default "none": such a start is an error.
     */
    fallback: z.enum(['none', 'rl']).default('none'),
    /**
     * keep onnxruntime's CPU memory arena between runs (native runtime). On (default), a window's
     * activations stay allocated for the next one: measured here 1.2–1.35 MP/s at 1456×1088;
     * off, they are freed after each window and glibc's allocator churns (1.0–1.15 MP/s, more
     * RSS). onnxruntime's memory pattern stays off either way (a second copy of the activations)
     */
    memoryArena: z.boolean().default(true),
    tile: remote(
      z.strictObject({
        /**
         * trained (default): as the model's manifest says it holds its accuracy. A model with
         * `frameWindow` runs in windows of that size with an 8-px halo, so that the network sees what
         * it saw in training, a frame edge within its receptive field (the emitter models trained
         * on 64-px frames lost much of their accuracy on whole sensor frames: 512 × 512 default
         * condition, Jaccard 0.70 in bands, 0.91 in 64-px windows; README); a model without it
         * (every shipped model: the emitter models are trained on 128-px frames) runs in bands.
         * bands: the network cut at its levels runs in full-width row bands, each level with only
         * its own few rows of context (src/inference/band-plan.ts),
         * exactly the whole-frame network; windows: overlap tiles of the whole network with a
         * receptive-field halo, exact as well. A model the bands cannot run exactly falls back to
         * windows, with a warning saying why
         */
        mode: z.enum(['trained', 'bands', 'windows']).default('trained'),
        /**
         * windows mode: largest tile window edge in input pixels, halo included; 0 = never tile
         * (in either mode: the whole frame in one run). Windows bound
         * memory: the INT8 network ran as many network pixels per second in 512–640 px windows
         * as on a whole 1456×1088 frame (bench/results/bench-1456x1088-deployed.json), so the
         * halos (1.66× the frame's pixels at 512, 1.36× at 640) are what tiling costs
         */
        window: z.number().int().min(0).max(16384).default(512),
        /**
         * activation budget, MB: bands mode, all the network's parts together (from the manifest's
         * measured bytes per pixel, bench/band-memory.ts); windows mode, one window's. The default
         * leaves room on a 4 GB Pi
         */
        memoryMB: z.number().int().min(16).max(65536).default(160),
        /**
         * halo in input pixels (default: 8 in trained mode; otherwise the receptive-field radius + 1,
         * which bands and windows need to be exact)
         */
        halo: z.number().int().min(0).max(1024).optional(),
      }),
    ).prefault({}),
    rl: remote(
      z.strictObject({
        /** e.g. "gauss:2", "airy:1.5" — width in camera px */
        psf: z
          .string()
          .regex(/^(gauss|airy):[0-9]*\.?[0-9]+$/)
          .default('gauss:2'),
        iterations: z.number().int().min(1).max(2000).default(50),
        /** stop when the relative change of the estimate falls below this */
        tolerance: z.number().min(0).default(1e-4),
        scale: z.number().int().min(1).max(8).default(4),
      }),
    ).prefault({}),
  })
  .prefault({});
