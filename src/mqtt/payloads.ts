import { z } from 'zod';
import { BOOT_ID } from '../boot.ts';
import { accumulateWindowBounds, publishedImageBounds } from '../config/pipeline.ts';
import { patternSpecSchema } from '../hardware/patterns.ts';
import type { FrameResult } from '../pipeline/types.ts';

/** Payload of …/status (plain text, retained). */
export const statusSchema = z.enum(['online', 'offline', 'stopped']);
export type StatusPayload = z.output<typeof statusSchema>;

/** Payload of …/health: whatever JSON object the health module builds. */
export const healthSchema = z.record(z.string(), z.unknown());
export type HealthPayload = z.output<typeof healthSchema>;

const finite = z.number().refine(Number.isFinite, 'must be a finite number');

/**
 * Localisations as columns (one array per quantity, index i is localisation i): a few thousand
 * per frame stay a compact JSON. Positions in camera pixels rounded to 1/1000 px, photons to 0.1.
 */
const fitColumn = z.array(finite.nullable());
export const localizationColumnsSchema = z
  .object({
    count: z.number().int().min(0),
    x: z.array(finite),
    y: z.array(finite),
    photons: z.array(finite),
    peak: z.array(finite),
    /**
     * With `pipeline.postprocess.fit: gauss`: per localisation the Cramér–Rao standard deviations
     * of x and y (px, 1/10000) and of photons, the local background per pixel and the fitted PSF
     * width w (∝ exp(−r²/w²), px); null where that localisation's fit failed (x, y are then the
     * map's centroid).
     */
    sigmaX: fitColumn.optional(),
    sigmaY: fitColumn.optional(),
    sigmaPhotons: fitColumn.optional(),
    background: fitColumn.optional(),
    width: fitColumn.optional(),
  })
  .refine(
    (c) =>
      [c.x, c.y, c.photons, c.peak, c.sigmaX, c.sigmaY, c.sigmaPhotons, c.background, c.width].every(
        (a) => a === undefined || a.length === c.count,
      ),
    'every column has `count` entries',
  );
export type LocalizationColumnsPayload = z.output<typeof localizationColumnsSchema>;

/**
 * Meta JSON bytes of one localisation (rounded numbers, separators): `typical` for the publish
 * budget, `max` for the spool's one-result bound; the fit's five columns roughly double it.
 */
export function metaBytesPerLocalization(fitted: boolean, bound: 'typical' | 'max'): number {
  const map = bound === 'max' ? 48 : 32;
  const fit = bound === 'max' ? 56 : 36;
  return fitted ? map + fit : map;
}

/** How an image payload encodes the map: 16-bit grey PNG, pixel/65535 × max = unit-sum map summed over bin×bin fine pixels. */
export const imageInfoSchema = z.object({
  encoding: z.literal('png16'),
  max: z.number(),
  bytes: z.number().int(),
  width: z.number().int(),
  height: z.number().int(),
  /** fine (model-grid) pixels per image pixel along each axis */
  bin: z.number().int().min(1),
  /** the camera-pixel region the image covers */
  region: z.object({ x: z.number().int(), y: z.number().int(), width: z.number().int(), height: z.number().int() }),
  /**
   * frame pixels the image covers exactly when it is not on the camera grid (nanohole position map:
   * 2.5λ around the optical axis; pixel/65535 × max is then the hole probability); `region` encloses it
   */
  extent: z.object({ x: finite, y: finite, width: finite, height: finite }).optional(),
});
export type ImageInfo = z.output<typeof imageInfoSchema>;

/** Localisations scored against the frame's ground truth (simulator, DMD mask). */
export const truthScoreSchema = z.object({
  truth: z.number().int(),
  found: z.number().int(),
  matched: z.number().int(),
  precision: z.number(),
  recall: z.number(),
  f1: z.number(),
  /** RMS distance of matched pairs, camera pixels; null when nothing matched */
  rmsePx: z.number().nullable(),
  /** match radius, camera pixels */
  radiusPx: z.number(),
});
export type TruthScore = z.output<typeof truthScoreSchema>;

/**
 * Nanohole (unet) models: the holes in the frame's position map. Centres in λ relative to the
 * optical axis (the map's centre) and in frame pixels (like localisations: pixel centres at
 * index + 0.5; sensor = sensor.x/y + frame × binning); radius = equivalent disk of the hole's
 * pixels above `threshold`, λ; peak = highest probability in it.
 */
export const holesSchema = z.object({
  count: z.number().int().min(0),
  /** connected blobs above threshold before splitting touching holes and dropping specks */
  components: z.number().int().min(0),
  threshold: z.number(),
  /** the position map: size×size pixels over extent λ */
  grid: z.object({ size: z.number().int(), extent: finite }),
  /** camera pixel pitch (λ per frame px) and the frame position of the optical axis (px) */
  camera: z.object({ pitch: finite, centre: z.object({ x: finite, y: finite }) }),
  list: z.array(
    z.object({
      x: finite,
      y: finite,
      px: finite,
      py: finite,
      radius: finite,
      peak: finite,
    }),
  ),
});
export type HolesPayload = z.output<typeof holesSchema>;

/** Payload of …/result/<stream>/meta. */
export const resultMetaSchema = z.object({
  stream: z.string(),
  seq: z.number().int(),
  /**
   * this daemon process's boot id: a camera's seq starts again at 0 after a restart, so
   * (boot, seq) names a frame uniquely across restarts
   */
  boot: z.string(),
  timestamp: z.number(),
  source: z.string(),
  model: z.object({ id: z.string(), fingerprint: z.string(), provider: z.string() }),
  /** the frame the model saw (after camera.roi and camera.binning); positions are in its pixels */
  input: z.object({ width: z.number().int(), height: z.number().int() }),
  /** sensor pixel = (x, y) + frame pixel × binning */
  sensor: z.object({ x: z.number().int(), y: z.number().int(), binning: z.number().int() }),
  output: z.object({ width: z.number().int(), height: z.number().int() }),
  scale: z.number(),
  localizations: localizationColumnsSchema,
  timings: z.object({
    queue: z.number(),
    preprocess: z.number(),
    reconstruct: z.number(),
    postprocess: z.number(),
    encode: z.number(),
    total: z.number(),
  }),
  dropped: z.number().int(),
  /** network windows for this frame and network pixels per frame pixel */
  tiles: z.number().int(),
  overhead: z.number(),
  /**
   * the frame compared with the model's trained ranges (src/optics/ood.ts): inRange false means
   * the frame is unlike anything the model was trained on and its output should not be trusted
   */
  ood: z
    .object({
      inRange: z.boolean(),
      flags: z.array(
        z.object({
          quantity: z.string(),
          value: z.number(),
          range: z.tuple([z.number(), z.number()]),
          side: z.enum(['below', 'above']),
          reason: z.string(),
        }),
      ),
      psfWidth: z.number().nullable(),
      background: z.number(),
      photons: z.number().nullable(),
      density: z.number(),
      units: z.enum(['electrons', 'equivalent-photons']),
    })
    .optional(),
  /** what the camera said about the frame (INDI: exposure, gain, binning, pixel size, DATE-OBS… from its FITS header) */
  camera: z
    .object({
      device: z.string().optional(),
      exposure: z.number().optional(),
      gain: z.number().optional(),
      offset: z.number().optional(),
      binning: z.object({ x: z.number(), y: z.number() }).optional(),
      pixelSize: z.object({ x: z.number(), y: z.number() }).optional(),
      ccdTemperature: z.number().optional(),
      dateObs: z.string().optional(),
      telescope: z.string().optional(),
      object: z.string().optional(),
      filter: z.string().optional(),
      frameType: z.string().optional(),
      rowOrder: z.string().optional(),
    })
    .optional(),
  /** present when this frame's …/image was published (the PNG's tEXt "rayleigh" chunk carries the same seq) */
  image: imageInfoSchema.optional(),
  score: truthScoreSchema.optional(),
  /** nanohole (unet) models only */
  holes: holesSchema.optional(),
});
export type ResultMeta = z.output<typeof resultMetaSchema>;

/** Payload of …/event. */
export const eventSchema = z.object({
  type: z.string().min(1),
  severity: z.enum(['info', 'warning', 'error']).default('info'),
  message: z.string().optional(),
  timestamp: z.number().optional(),
  data: z.unknown().optional(),
});
export type EventInput = z.input<typeof eventSchema>;
export type EventPayload = z.output<typeof eventSchema>;

/** Correlates a response with its request when MQTT 5 correlation data is not available. */
export const transactionSchema = z.union([z.string().max(256), z.number().finite()]);
export type Transaction = z.output<typeof transactionSchema>;

/** Payload of …/cmd/<name>/response (or of the MQTT 5 response topic). */
export const responseSchema = z.object({
  status: z.enum(['ok', 'error']),
  data: z.unknown().optional(),
  error: z.string().optional(),
  transaction: transactionSchema.optional(),
});
export type CommandResponse = z.output<typeof responseSchema>;

// ---------------------------------------------------------------- command parameters

const coord = finite;

/** One pattern vocabulary for the whole project: the DMD pattern generator's. */
export const dmdPatternSchema = patternSpecSchema;
export type DmdPattern = z.output<typeof dmdPatternSchema>;

const streamName = z
  .string()
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only');

/** Every command and its parameters (the request payload minus `transaction`). Unknown keys are refused. */
export const commandParamSchemas = {
  get_config: z.object({}).strict(),
  set_config: z
    .object({
      /** partial settings, deep-merged into the running configuration */
      patch: z.record(z.string(), z.unknown()),
      /** also write the merged configuration to the config file */
      persist: z.boolean().default(false),
    })
    .strict(),
  select_model: z.object({ model: z.string().min(1).max(200), stream: streamName.optional() }).strict(),
  capture: z.object({ count: z.number().int().min(1).max(100).default(1), stream: streamName.optional() }).strict(),
  start: z.object({ stream: streamName.optional() }).strict(),
  stop: z.object({ stream: streamName.optional() }).strict(),
  dmd_show: z.object({ pattern: dmdPatternSchema, durationMs: z.number().int().min(0).max(3_600_000).optional() }).strict(),
  stage_move: z
    .object({
      /** axis name → target (or offset when relative), micrometres */
      axes: z.record(z.string().regex(/^[A-Za-z0-9_-]{1,16}$/), finite).refine((a) => Object.keys(a).length > 0, 'name at least one axis'),
      relative: z.boolean().default(false),
      speedUmS: z.number().positive().finite().optional(),
    })
    .strict(),
  stage_home: z
    .object({
      axes: z
        .array(z.string().regex(/^[A-Za-z0-9_-]{1,16}$/))
        .min(1)
        .optional(),
    })
    .strict(),
  estop: z.object({}).strict(),
  /** clears a latched emergency stop; motion and DMD commands are refused until then */
  estop_reset: z.object({}).strict(),
  /**
   * the accumulated render now, published on …/result/<stream>/accumulated like the scheduled
   * ones (its meta says `trigger: "request"`); each option defaults to `pipeline.accumulate`'s
   */
  render_accumulated: z
    .object({
      stream: streamName.optional(),
      region: publishedImageBounds.region.optional(),
      maxEdge: publishedImageBounds.maxEdge.optional(),
      maxBytes: publishedImageBounds.maxBytes.optional(),
      frames: accumulateWindowBounds.frames.optional(),
      seconds: accumulateWindowBounds.seconds.optional(),
      binsPerPixel: accumulateWindowBounds.binsPerPixel.optional(),
    })
    .strict(),
  selftest: z.object({ patterns: z.number().int().min(1).max(100).default(5) }).strict(),
  restart: z.object({ delayMs: z.number().int().min(0).max(60_000).default(0) }).strict(),
} as const;

export type CommandName = keyof typeof commandParamSchemas;
export const commandNames = Object.keys(commandParamSchemas) as CommandName[];
export type CommandParams<N extends CommandName> = z.output<(typeof commandParamSchemas)[N]>;

export function isCommandName(name: string): name is CommandName {
  return Object.hasOwn(commandParamSchemas, name);
}

// ---------------------------------------------------------------- building meta from a result

/**
 * Greedy nearest-neighbour matching of localisations to truth within radiusPx.
 * Skipped (undefined) for very large scenes to keep it cheap on the publishing path.
 */
export function scoreAgainstTruth(
  locs: { count: number; x: ArrayLike<number>; y: ArrayLike<number> },
  truth: ReadonlyArray<{ x: number; y: number }>,
  radiusPx = 1,
): TruthScore | undefined {
  if (locs.count * truth.length > 4_000_000) return undefined;
  const pairs: Array<[number, number, number]> = [];
  const r2 = radiusPx * radiusPx;
  for (let i = 0; i < locs.count; i++) {
    for (let j = 0; j < truth.length; j++) {
      const dx = locs.x[i] - truth[j].x;
      const dy = locs.y[i] - truth[j].y;
      const d2 = dx * dx + dy * dy;
      if (d2 <= r2) pairs.push([d2, i, j]);
    }
  }
  pairs.sort((a, b) => a[0] - b[0]);
  const usedL = new Set<number>();
  const usedT = new Set<number>();
  let sum = 0;
  for (const [d2, i, j] of pairs) {
    if (usedL.has(i) || usedT.has(j)) continue;
    usedL.add(i);
    usedT.add(j);
    sum += d2;
  }
  const matched = usedL.size;
  const precision = locs.count ? matched / locs.count : truth.length ? 0 : 1;
  const recall = truth.length ? matched / truth.length : 1;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return {
    truth: truth.length,
    found: locs.count,
    matched,
    precision,
    recall,
    f1,
    rmsePx: matched ? Math.sqrt(sum / matched) : null,
    radiusPx,
  };
}

const round = (v: number, k: number) => Math.round(v * k) / k;
const sig4 = (v: number) => (v === 0 ? 0 : Number(v.toPrecision(4)));

function columns(c: FrameResult['localizations']): LocalizationColumnsPayload {
  const n = c.count;
  const x = new Array<number>(n);
  const y = new Array<number>(n);
  const photons = new Array<number>(n);
  const peak = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    x[i] = round(c.x[i], 1000);
    y[i] = round(c.y[i], 1000);
    photons[i] = round(c.photons[i], 10);
    peak[i] = sig4(c.peak[i]);
  }
  const out: LocalizationColumnsPayload = { count: n, x, y, photons, peak };
  const f = c.fit;
  if (f) {
    const col = (a: Float32Array, k: number) => Array.from(a, (v) => (Number.isFinite(v) ? round(v, k) : null));
    out.sigmaX = col(f.sigmaX, 10_000);
    out.sigmaY = col(f.sigmaY, 10_000);
    out.sigmaPhotons = col(f.sigmaPhotons, 10);
    out.background = col(f.background, 100);
    out.width = col(f.width, 1000);
  }
  return out;
}

export function imageInfo(e: NonNullable<FrameResult['image']>): ImageInfo {
  const info: ImageInfo = {
    encoding: 'png16',
    max: e.max,
    bytes: e.png.byteLength,
    width: e.width,
    height: e.height,
    bin: e.bin,
    region: { ...e.region },
  };
  if (e.extent)
    info.extent = {
      x: round(e.extent.x, 1000),
      y: round(e.extent.y, 1000),
      width: round(e.extent.width, 1000),
      height: round(e.extent.height, 1000),
    };
  return info;
}

/** λ to 1e-4 (a map pixel is 0.0195λ), frame px to 1e-3, as localisations. */
export function holesPayload(h: NonNullable<FrameResult['holes']>): HolesPayload {
  return {
    count: h.count,
    components: h.components,
    threshold: h.threshold,
    grid: { size: h.grid.size, extent: h.grid.extent },
    camera: { pitch: h.camera.pitch, centre: { x: round(h.camera.centre.x, 1000), y: round(h.camera.centre.y, 1000) } },
    list: h.holes.map((o) => ({
      x: round(o.x, 10000),
      y: round(o.y, 10000),
      px: round(o.px ?? Number.NaN, 1000),
      py: round(o.py ?? Number.NaN, 1000),
      radius: round(o.radius, 10000),
      peak: sig4(o.peak),
    })),
  };
}

/** The one wire format of …/result/<stream>/meta (MQTT, the dashboard's SSE and /api/result). */
export function toResultMeta(r: FrameResult): ResultMeta {
  const meta: ResultMeta = {
    stream: r.stream,
    seq: r.seq,
    boot: BOOT_ID,
    timestamp: r.timestamp,
    source: r.source,
    model: { id: r.model.id, fingerprint: r.model.fingerprint, provider: r.model.provider },
    input: { width: r.input.width, height: r.input.height },
    sensor: { ...r.sensor },
    output: { width: r.output.width, height: r.output.height },
    scale: r.scale,
    localizations: columns(r.localizations),
    timings: { ...r.timings },
    dropped: r.dropped,
    tiles: r.tiles,
    overhead: round(r.overhead, 1000),
  };
  if (r.image) meta.image = imageInfo(r.image);
  if (r.camera) {
    // the full header stays with the frame (FITS output); the meta carries the keys users query
    const { header: _header, ...keys } = r.camera;
    meta.camera = keys;
  }
  if (r.ood) {
    const o = r.ood;
    const sig = (v: number | null) => (v === null ? null : sig4(v));
    meta.ood = {
      inRange: o.inRange,
      flags: o.flags.map((f) => ({ quantity: f.quantity, value: sig4(f.value), range: f.range, side: f.side, reason: f.reason })),
      psfWidth: sig(o.psfWidth),
      background: sig4(o.background),
      photons: sig(o.photons),
      density: sig4(o.density),
      units: o.units,
    };
  }
  if (r.holes) meta.holes = holesPayload(r.holes);
  if (r.truth) {
    const score = scoreAgainstTruth(r.localizations, r.truth);
    if (score) meta.score = score;
  }
  return meta;
}

/** Payload of …/result/<stream>/accumulated/meta (retained), describing the retained PNG on …/accumulated. */
export const accumulatedMetaSchema = imageInfoSchema.extend({
  stream: z.string(),
  /** seq of the frame whose processing rendered it */
  seq: z.number().int(),
  timestamp: z.number(),
  frames: z.number().int(),
  localizations: z.number().int(),
  /** histogram bins per camera pixel; `bin` counts these bins here, not model-grid pixels */
  binsPerPixel: z.number().int(),
  /** `schedule`: every pipeline.accumulate.everyMs; `request`: a render_accumulated command asked for it */
  trigger: z.enum(['schedule', 'request']),
});
export type AccumulatedMeta = z.output<typeof accumulatedMetaSchema>;

export function toAccumulatedMeta(r: FrameResult): AccumulatedMeta | undefined {
  const a = r.accumulated;
  if (!a) return undefined;
  return {
    ...imageInfo(a),
    stream: r.stream,
    seq: r.seq,
    timestamp: r.timestamp,
    frames: a.frames,
    localizations: a.localizations,
    binsPerPixel: a.binsPerPixel,
    trigger: a.trigger,
  };
}
