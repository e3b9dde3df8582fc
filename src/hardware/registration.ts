import type { DmdCameraMapping, MaskPoint } from './patterns.ts';
import { mapMirrorToCamera } from './patterns.ts';

export interface RegistrationResult {
  mapping: Required<Pick<DmdCameraMapping, 'matrix' | 'offsetX' | 'offsetY'>>;
  /** RMS distance of matched pairs after the fit, camera px */
  rmsPx: number;
  matched: number;
  shown: number;
  detected: number;
}

/** Least-squares affine camera = A·(mirror + ½) + b over matched pairs. */
export function fitAffine(pairs: Array<{ m: MaskPoint; c: { x: number; y: number } }>): RegistrationResult['mapping'] {
  if (pairs.length < 3) throw new Error(`need at least 3 matched points to fit an affine map, have ${pairs.length}`);
  // normal equations for [a b tx] and [c d ty] share the same 3×3 matrix
  const M = [
    [0, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
  ];
  const vx = [0, 0, 0];
  const vy = [0, 0, 0];
  for (const { m, c } of pairs) {
    const r = [m.x + 0.5, m.y + 0.5, 1];
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) M[i][j] += r[i] * r[j];
      vx[i] += r[i] * c.x;
      vy[i] += r[i] * c.y;
    }
  }
  const sx = solve3(M, vx);
  const sy = solve3(M, vy);
  return { matrix: [sx[0], sx[1], sy[0], sy[1]], offsetX: sx[2], offsetY: sy[2] };
}

function solve3(A: number[][], b: number[]): number[] {
  const m = A.map((row, i) => [...row, b[i]]);
  for (let col = 0; col < 3; col++) {
    let piv = col;
    for (let r = col + 1; r < 3; r++) if (Math.abs(m[r][col]) > Math.abs(m[piv][col])) piv = r;
    if (Math.abs(m[piv][col]) < 1e-12) throw new Error('calibration points are degenerate (collinear)');
    [m[col], m[piv]] = [m[piv], m[col]];
    for (let r = 0; r < 3; r++) {
      if (r === col) continue;
      const f = m[r][col] / m[col][col];
      for (let k = col; k < 4; k++) m[r][k] -= f * m[col][k];
    }
  }
  return [m[0][3] / m[0][0], m[1][3] / m[1][1], m[2][3] / m[2][2]];
}

/**
 * DMD↔camera registration from one shown point pattern and the spots found in its image:
 * iterative closest point from an initial guess — match each predicted spot to the nearest
 * detection within a radius, refit the affine map, shrink the radius.
 */
export function registerDmd(
  shown: MaskPoint[],
  detected: Array<{ x: number; y: number }>,
  initial: DmdCameraMapping,
  opts: { radiusPx?: number; iterations?: number } = {},
): RegistrationResult {
  let mapping: DmdCameraMapping = initial;
  let radius = opts.radiusPx ?? 4;
  let pairs: Array<{ m: MaskPoint; c: { x: number; y: number } }> = [];
  for (let it = 0; it < (opts.iterations ?? 8); it++) {
    pairs = [];
    const used = new Set<number>();
    for (const m of shown) {
      const p = mapMirrorToCamera(m.x, m.y, mapping);
      let best = -1;
      let bd = radius * radius;
      for (let j = 0; j < detected.length; j++) {
        if (used.has(j)) continue;
        const d = (detected[j].x - p.x) ** 2 + (detected[j].y - p.y) ** 2;
        if (d < bd) {
          bd = d;
          best = j;
        }
      }
      if (best >= 0) {
        used.add(best);
        pairs.push({ m, c: detected[best] });
      }
    }
    const fit = fitAffine(pairs);
    mapping = { ...fit, photons: initial.photons };
    radius = Math.max(1, radius * 0.7);
  }
  const final = mapping as RegistrationResult['mapping'];
  let se = 0;
  for (const { m, c } of pairs) {
    const p = mapMirrorToCamera(m.x, m.y, final);
    se += (p.x - c.x) ** 2 + (p.y - c.y) ** 2;
  }
  return {
    mapping: { matrix: final.matrix, offsetX: final.offsetX, offsetY: final.offsetY },
    rmsPx: Math.sqrt(se / Math.max(pairs.length, 1)),
    matched: pairs.length,
    shown: shown.length,
    detected: detected.length,
  };
}
