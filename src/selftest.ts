import type { FrameSource } from './camera/types.ts';
import type { Dmd } from './hardware/dmd/types.ts';
import { type DmdCameraMapping, groundTruthEmitters, renderPattern } from './hardware/patterns.ts';
import { columnsToList } from './inference/peaks.ts';
import { matchEmitters } from './optics/metrics.ts';
import type { Pipeline } from './pipeline/pipeline.ts';

/**
 * Closed loop: the DMD draws random point masks whose positions are known exactly, the camera
 * images them, the model reconstructs, and the localisations are scored against the mask.
 * The score (mean emitter Jaccard within `maxDistance` camera px) measures super-resolution
 * on this instrument today.
 */
export interface SelfTestOptions {
  patterns: number;
  /** emitters per 50×50 camera px */
  density: number;
  /** closest allowed pair, camera px */
  minSpacingPx: number;
  maxDistance: number;
  seed: number;
  /** a pass needs a mean Jaccard at least this */
  passScore: number;
}

export interface SelfTestPatternScore {
  emitters: number;
  found: number;
  jaccard: number;
  rmse: number | null;
  seq: number;
}

export interface SelfTestReport {
  score: number;
  passed: boolean;
  model: string;
  patterns: SelfTestPatternScore[];
  durationMs: number;
}

export const SELFTEST_DEFAULTS: SelfTestOptions = {
  patterns: 5,
  density: 20,
  minSpacingPx: 2.5,
  maxDistance: 0.5,
  seed: 1,
  passScore: 0.5,
};

/** Mirror→camera scale that fits the whole mirror array into the frame, centred. */
export function fitMapping(dmd: { width: number; height: number }, cam: { width: number; height: number }): DmdCameraMapping {
  const scale = Math.min(cam.width / dmd.width, cam.height / dmd.height);
  return { scale, offsetX: (cam.width - dmd.width * scale) / 2, offsetY: (cam.height - dmd.height * scale) / 2 };
}

function mappingScale(m: DmdCameraMapping): number {
  if (m.matrix) {
    const [a, b, c, d] = m.matrix;
    return Math.sqrt(Math.abs(a * d - b * c));
  }
  return m.scale ?? 1;
}

export async function runSelfTest(
  parts: { dmd: Dmd; source: FrameSource; pipeline: Pipeline; mapping: DmdCameraMapping; camera: { width: number; height: number } },
  o: SelfTestOptions,
): Promise<SelfTestReport> {
  const t0 = Date.now();
  const { dmd, source, pipeline, mapping, camera } = parts;
  const s = mappingScale(mapping);
  // Count from the density over the camera area the mirrors cover.
  const coveredW = Math.min(camera.width, dmd.width * s);
  const coveredH = Math.min(camera.height, dmd.height * s);
  const count = Math.max(1, Math.round((o.density * coveredW * coveredH) / 2500));
  const margin = Math.ceil(2 / s);
  const scores: SelfTestPatternScore[] = [];
  try {
    await dmd.setLeds(true);
    for (let k = 0; k < o.patterns; k++) {
      const mask = renderPattern(
        { kind: 'random', count, minSpacing: o.minSpacingPx / s, seed: o.seed + k, margin },
        dmd.width,
        dmd.height,
      );
      await dmd.showMask(mask);
      const frame = await source.capture();
      const result = await pipeline.processOne(frame);
      const truth = groundTruthEmitters(mask, mapping).filter(
        (e) => e.x >= 0 && e.y >= 0 && e.x < frame.image.width && e.y < frame.image.height,
      );
      const m = matchEmitters(truth, columnsToList(result.localizations), o.maxDistance);
      scores.push({
        emitters: truth.length,
        found: result.localizations.count,
        jaccard: m.jaccard,
        rmse: Number.isFinite(m.rmse) ? m.rmse : null,
        seq: result.seq,
      });
    }
  } finally {
    await dmd.blank().catch(() => undefined);
  }
  const score = scores.reduce((a, b) => a + b.jaccard, 0) / Math.max(scores.length, 1);
  return { score, passed: score >= o.passScore, model: pipeline.reconstructor.id, patterns: scores, durationMs: Date.now() - t0 };
}
