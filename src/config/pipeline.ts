import { z } from 'zod';

export const pipelineSchema = z
  .strictObject({
    /** name used in result topics: …/result/<stream>/… */
    stream: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .default('main'),
    /** frames buffered between capture and reconstruction; the oldest is dropped when full */
    queueSize: z.number().int().min(1).max(1000).default(4),
    /** start streaming at daemon start */
    autostart: z.boolean().default(true),
    preprocess: z
      .strictObject({
        /** .npy dark frame subtracted from every frame */
        dark: z.string().optional(),
        /** .npy flat field every frame is divided by (after dark) */
        flat: z.string().optional(),
      })
      .prefault({}),
    postprocess: z
      .strictObject({
        /** relative peak threshold (fraction of the max on the output grid) */
        threshold: z.number().min(0).max(1).default(0.1),
        /** minimum distance between peaks, output pixels */
        minDistance: z.number().int().min(1).default(2),
        maxLocalizations: z.number().int().min(0).default(2000),
      })
      .prefault({}),
    publishImage: z.boolean().default(true),
  })
  .prefault({});

export const inferenceSchema = z
  .strictObject({
    /** model id from models-int8/manifest.json, or "rl" for Richardson–Lucy */
    model: z.string().default('damn'),
    /** cpu | cuda | tensorrt: onnxruntime-node, probed at start, falling back to wasm (onnxruntime-web) when it cannot run here */
    provider: z.enum(['cpu', 'wasm', 'cuda', 'tensorrt']).default('cpu'),
    threads: z.number().int().min(1).max(64).default(2),
    modelsDir: z.string().default('models-int8'),
    tile: z
      .strictObject({
        /** tile edge in input pixels (before halo); 0 = never tile */
        size: z.number().int().min(0).default(256),
        /** halo in input pixels; must cover the network's receptive field */
        halo: z.number().int().min(0).optional(),
      })
      .prefault({}),
    rl: z
      .strictObject({
        /** e.g. "gauss:2", "airy:1.5" — width in camera px */
        psf: z
          .string()
          .regex(/^(gauss|airy):[0-9]*\.?[0-9]+$/)
          .default('gauss:2'),
        iterations: z.number().int().min(1).max(2000).default(50),
        /** stop when the relative change of the estimate falls below this */
        tolerance: z.number().min(0).default(1e-4),
        scale: z.number().int().min(1).max(8).default(4),
      })
      .prefault({}),
  })
  .prefault({});
