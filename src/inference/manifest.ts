import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { UserError } from '../errors.ts';
import { NANOHOLE_INPUT_NORMALISATION } from '../optics/nanohole.ts';
import { INPUT_NORMALISATION } from './normalise.ts';
import { QUANT_TARGETS } from './quantize/targets.ts';

export const manifestEntrySchema = z
  .object({
    id: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/)
      .refine((id) => id !== 'rl', '"rl" is reserved for the built-in Richardson–Lucy engine'),
    /** relative to the manifest's directory */
    file: z.string().min(1),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'lower-case hex sha256'),
    task: z.enum(['damn', 'unet']),
    precision: z.enum(['int8', 'fp32']),
    input: z
      .object({
        name: z.string().min(1),
        layout: z.literal('NCHW'),
        /** damn: the emitter contract; unet: nanoholeInput() (src/optics/nanohole.ts) */
        normalisation: z.enum([INPUT_NORMALISATION, NANOHOLE_INPUT_NORMALISATION]),
        /** frames are zero-padded and tiles aligned to multiples of this (2^pooling levels) */
        multiple: z.number().int().min(1).max(256).default(1),
      })
      .strict(),
    output: z
      .object({
        name: z.string().min(1),
        scale: z.number().int().min(1).max(16),
        meaning: z.string(),
      })
      .strict(),
    opset: z.number().int().min(1),
    macsPerPixel: z.number().nonnegative(),
    /** radius in input pixels; the tiling halo must be at least this */
    receptiveField: z.number().int().min(0),
    /** edge (px) of the square frames the model was trained on (its last stage) */
    trainedFrame: z.number().int().min(8).optional(),
    /**
     * edge (px) of the windows `inference.tile.mode: trained` cuts a frame into for this model: set
     * for a model that loses accuracy on frames much larger than it was trained on (measured with
     * `npx tsx bench/frame-size.ts`: the 64-px emitter models on a whole 512 × 512 frame). A model
     * without it holds on whole frames and runs in the exact bands
     */
    frameWindow: z.number().int().min(8).optional(),
    /**
     * peak activation memory per input pixel of a window, bytes (measured with
     * `npx tsx bench/window-memory.ts`); the tile planner sizes windows to `inference.tile.memoryMB` with it
     */
    activationBytesPerPixel: z.number().positive().optional(),
    /**
     * peak activation memory per frame pixel of each part of the banded network, in the band
     * planner's order (measured with `npx tsx bench/band-memory.ts`); without it the planner
     * estimates them from the graph
     */
    bandBytesPerPixel: z.array(z.number().positive()).optional(),
    /**
     * what the model was trained on, in the out-of-distribution guard's units (src/optics/ood.ts):
     * PSF width σ (camera px), background and emitter photons per pixel / per emitter, emitters per
     * 50×50 px. Frames whose estimates fall outside are flagged in their meta.
     */
    trainedRanges: z
      .object({
        psfWidth: z.tuple([z.number(), z.number()]).optional(),
        background: z.tuple([z.number(), z.number()]).optional(),
        photons: z.tuple([z.number(), z.number()]).optional(),
        density: z.tuple([z.number(), z.number()]).optional(),
        signalToBackground: z.tuple([z.number(), z.number()]).optional(),
        /** unet: holes per scene, two-hole centre distance (λ), photons per 22λ frame (0 = noiseless), read noise σ (photons) */
        holes: z.tuple([z.number(), z.number()]).optional(),
        pairDistance: z.tuple([z.number(), z.number()]).optional(),
        framePhotons: z.tuple([z.number(), z.number()]).optional(),
        readNoise: z.tuple([z.number(), z.number()]).optional(),
      })
      .strict()
      .optional(),
    accuracy: z.record(z.string(), z.unknown()).optional(),
    /** INT8 files: the CPU the weights were quantized for (`rayleigh quantize --target`) */
    quantization: z
      .object({
        target: z.enum(QUANT_TARGETS),
        /** 7: safe on every CPU; 8: needs VNNI (x86) or the Armv8.2 dot product (arm64) */
        weightBits: z.union([z.literal(7), z.literal(8)]),
        /** nodes kept in float, as the file's rayleigh.quantization metadata records them */
        floatNodes: z.array(z.string()).optional(),
      })
      .strict()
      .optional(),
    trainedBy: z.string(),
    notes: z.string().optional(),
  })
  .strict();

export const manifestSchema = z
  .object({
    models: z.array(manifestEntrySchema),
  })
  .strict()
  .superRefine((m, ctx) => {
    const seen = new Set<string>();
    for (const e of m.models) {
      if (seen.has(e.id)) ctx.addIssue({ code: 'custom', message: `duplicate model id "${e.id}"` });
      seen.add(e.id);
    }
  });

export type ManifestEntry = z.output<typeof manifestEntrySchema>;
export type Manifest = z.output<typeof manifestSchema>;

export const MANIFEST_FILE = 'manifest.json';

/** The models directory's manifest; a directory without one has no models. */
export async function readManifest(modelsDir: string): Promise<Manifest> {
  const path = join(modelsDir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { models: [] };
    throw new UserError(`${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UserError(`${path}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

/** A model file read from disk with its manifest entry (its hash already checked against it). */
export interface LoadedModel {
  entry: ManifestEntry;
  path: string;
  bytes: Uint8Array;
  sha256: string;
}
