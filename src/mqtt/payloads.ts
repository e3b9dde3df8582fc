import { z } from 'zod';
import { patternSpecSchema } from '../hardware/patterns.ts';
import type { Localization } from '../optics/emitter.ts';
import type { FrameResult } from '../pipeline/types.ts';

/** Payload of …/status (plain text, retained). */
export const statusSchema = z.enum(['online', 'offline', 'stopped']);
export type StatusPayload = z.output<typeof statusSchema>;

/** Payload of …/health: whatever JSON object the health module builds. */
export const healthSchema = z.record(z.string(), z.unknown());
export type HealthPayload = z.output<typeof healthSchema>;

const finite = z.number().refine(Number.isFinite, 'must be a finite number');

export const localizationSchema = z.object({ x: finite, y: finite, photons: finite, peak: finite });

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

/** Payload of …/result/<stream>/meta. */
export const resultMetaSchema = z.object({
  stream: z.string(),
  seq: z.number().int(),
  timestamp: z.number(),
  source: z.string(),
  model: z.object({ id: z.string(), fingerprint: z.string(), provider: z.string() }),
  input: z.object({ width: z.number().int(), height: z.number().int() }),
  output: z.object({ width: z.number().int(), height: z.number().int() }),
  scale: z.number(),
  localizations: z.array(localizationSchema),
  timings: z.object({ queue: z.number(), preprocess: z.number(), reconstruct: z.number(), postprocess: z.number(), total: z.number() }),
  dropped: z.number().int(),
  /** how …/image encodes the output: 16-bit grey PNG, pixel/65535 × max = unit-sum map value */
  image: z.object({ encoding: z.literal('png16'), max: z.number(), bytes: z.number().int() }).optional(),
  score: truthScoreSchema.optional(),
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
  locs: Localization[],
  truth: ReadonlyArray<{ x: number; y: number }>,
  radiusPx = 1,
): TruthScore | undefined {
  if (locs.length * truth.length > 4_000_000) return undefined;
  const pairs: Array<[number, number, number]> = [];
  const r2 = radiusPx * radiusPx;
  for (let i = 0; i < locs.length; i++) {
    for (let j = 0; j < truth.length; j++) {
      const dx = locs[i].x - truth[j].x;
      const dy = locs[i].y - truth[j].y;
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
  const precision = locs.length ? matched / locs.length : truth.length ? 0 : 1;
  const recall = truth.length ? matched / truth.length : 1;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return {
    truth: truth.length,
    found: locs.length,
    matched,
    precision,
    recall,
    f1,
    rmsePx: matched ? Math.sqrt(sum / matched) : null,
    radiusPx,
  };
}

export function toResultMeta(r: FrameResult, image?: { max: number; bytes: number }): ResultMeta {
  const meta: ResultMeta = {
    stream: r.stream,
    seq: r.seq,
    timestamp: r.timestamp,
    source: r.source,
    model: { id: r.model.id, fingerprint: r.model.fingerprint, provider: r.model.provider },
    input: { width: r.input.width, height: r.input.height },
    output: { width: r.output.width, height: r.output.height },
    scale: r.scale,
    localizations: r.localizations.map((l) => ({ x: l.x, y: l.y, photons: l.photons, peak: l.peak })),
    timings: { ...r.timings },
    dropped: r.dropped,
  };
  if (image) meta.image = { encoding: 'png16', max: image.max, bytes: image.bytes };
  if (r.truth) {
    const score = scoreAgainstTruth(r.localizations, r.truth);
    if (score) meta.score = score;
  }
  return meta;
}
