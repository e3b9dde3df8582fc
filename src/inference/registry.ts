import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { z } from 'zod';
import type { inferenceSchema } from '../config/pipeline.ts';
import { UserError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { WorkerEngine } from './engine.ts';
import { type LoadedModel, type ManifestEntry, readManifest } from './manifest.ts';

export type InferenceSettings = z.output<typeof inferenceSchema>;

/** A model file read and verified against its manifest entry. */
export const RL_ID = 'rl';

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export async function findModel(id: string, modelsDir: string): Promise<ManifestEntry> {
  const manifest = await readManifest(modelsDir);
  const entry = manifest.models.find((m) => m.id === id);
  if (!entry) {
    const known = [RL_ID, ...manifest.models.map((m) => m.id)].join(', ');
    throw new UserError(`unknown model "${id}" (known: ${known})`);
  }
  return entry;
}

/**
 * Reads a model and checks its sha256 against the manifest. Throws (UserError) without side
 * effects on any mismatch, so a daemon swapping models keeps the one it has.
 */
export async function loadModel(id: string, modelsDir: string): Promise<LoadedModel> {
  const entry = await findModel(id, modelsDir);
  const dir = resolve(modelsDir);
  const path = resolve(dir, entry.file);
  const rel = relative(dir, path);
  if (rel.startsWith('..') || isAbsolute(rel)) throw new UserError(`model "${id}": file ${entry.file} is outside ${modelsDir}`);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch {
    throw new UserError(`model "${id}": cannot read ${join(modelsDir, entry.file)}`);
  }
  const sha256 = sha256Hex(bytes);
  if (sha256 !== entry.sha256) {
    throw new UserError(`model "${id}": sha256 of ${entry.file} is ${sha256}, manifest says ${entry.sha256}; refusing to load it`);
  }
  return { entry, path, bytes, sha256 };
}

export interface CreateReconstructorOptions {
  /** windows per network call (tiling) */
  batch?: number;
}

/** "rl" → the Richardson–Lucy engine; any other id → the manifest's ONNX model in a worker thread. */
export async function createReconstructor(
  id: string,
  settings: { inference: InferenceSettings },
  log?: Logger,
  options: CreateReconstructorOptions = {},
): Promise<WorkerEngine> {
  const inf = settings.inference;
  if (id === RL_ID) {
    return WorkerEngine.rl({
      psf: inf.rl.psf,
      iterations: inf.rl.iterations,
      tolerance: inf.rl.tolerance,
      scale: inf.rl.scale,
    });
  }
  const model = await loadModel(id, inf.modelsDir);
  return WorkerEngine.onnx(model, {
    provider: inf.provider,
    threads: inf.threads,
    tile: { mode: inf.tile.mode, window: inf.tile.window, memoryMB: inf.tile.memoryMB, halo: inf.tile.halo },
    memoryArena: inf.memoryArena,
    batch: options.batch,
    log,
  });
}
