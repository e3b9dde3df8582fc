/**
 * Binary DMD masks with their ground truth, the generators the closed loop needs (random points at
 * a minimum spacing, lattices, pairs at a set distance, calibration dots), the validated JSON spec
 * the MQTT `dmd_show` command accepts, and the DMD→camera mapping that turns a shown mask into
 * the emitters the camera sees.
 */
import { z } from 'zod';
import { UserError } from '../errors.ts';
import type { Emitter } from '../optics/emitter.ts';
import { Rng } from '../optics/random.ts';

/** A mirror position (column x, row y), in mirror units. */
export interface MaskPoint {
  x: number;
  y: number;
}

/**
 * One byte per mirror (0 = off, 1 = on), row-major. `points` is the ground truth the mask was made
 * from: emitter centres for scoring (for dots, the dot centre rather than every lit mirror).
 */
export interface Mask {
  width: number;
  height: number;
  bits: Uint8Array;
  points: MaskPoint[];
}

function checkSize(width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new UserError(`invalid mask size ${width}x${height}`);
  }
}

export function emptyMask(width: number, height: number): Mask {
  checkSize(width, height);
  return { width, height, bits: new Uint8Array(width * height), points: [] };
}

export function maskFromPoints(width: number, height: number, points: MaskPoint[]): Mask {
  const m = emptyMask(width, height);
  for (const p of points) {
    const x = Math.round(p.x);
    const y = Math.round(p.y);
    if (x < 0 || y < 0 || x >= width || y >= height) {
      throw new UserError(`point (${p.x}, ${p.y}) lies outside the ${width}x${height} mirror array`);
    }
    m.bits[y * width + x] = 1;
  }
  m.points = points.map((p) => ({ x: p.x, y: p.y }));
  return m;
}

/** Every lit mirror, row-major. */
export function litMirrors(mask: Mask): MaskPoint[] {
  const out: MaskPoint[] = [];
  for (let y = 0, i = 0; y < mask.height; y++) {
    for (let x = 0; x < mask.width; x++, i++) if (mask.bits[i]) out.push({ x, y });
  }
  return out;
}

/** A mask built from raw mirror states (what a device decodes); its ground truth is its lit mirrors. */
export function maskFromBits(width: number, height: number, bits: Uint8Array): Mask {
  checkSize(width, height);
  if (bits.length !== width * height) throw new Error(`mask bits ${bits.length} do not match ${width}x${height}`);
  const m: Mask = { width, height, bits, points: [] };
  m.points = litMirrors(m);
  return m;
}

export function masksEqual(a: Mask | null, b: Mask | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.width !== b.width || a.height !== b.height) return false;
  for (let i = 0; i < a.bits.length; i++) if ((a.bits[i] !== 0) !== (b.bits[i] !== 0)) return false;
  return true;
}

export function countLit(mask: Mask): number {
  let n = 0;
  for (let i = 0; i < mask.bits.length; i++) if (mask.bits[i]) n++;
  return n;
}

// ---------------------------------------------------------------------------------------------
// generators

export interface RandomPointsOptions {
  count: number;
  /** minimum centre-to-centre distance in mirrors */
  minSpacing: number;
  seed?: number;
  /** keep this many mirrors clear along every edge */
  margin?: number;
}

/**
 * Dart throwing with a spatial hash: exact minimum spacing, reproducible for a seed. Gives up with
 * a clear error instead of looping forever when the requested density cannot be packed.
 */
export function randomPoints(width: number, height: number, opts: RandomPointsOptions): Mask {
  checkSize(width, height);
  const { count, minSpacing } = opts;
  const margin = opts.margin ?? 0;
  const rng = new Rng(opts.seed ?? 1);
  const w = width - 2 * margin;
  const h = height - 2 * margin;
  if (w <= 0 || h <= 0) throw new UserError(`margin ${margin} leaves no room on a ${width}x${height} array`);
  const cell = Math.max(1, minSpacing);
  const gw = Math.ceil(width / cell);
  const grid = new Map<number, MaskPoint[]>();
  const pts: MaskPoint[] = [];
  // distinct mirrors at least: a spacing below one mirror would let two points share a mirror
  const eff = Math.max(1, minSpacing);
  const minSq = eff * eff;
  const maxAttempts = Math.max(1000, count * 200);
  for (let attempt = 0; attempt < maxAttempts && pts.length < count; attempt++) {
    const x = margin + Math.floor(rng.uniform() * w);
    const y = margin + Math.floor(rng.uniform() * h);
    const cx = Math.floor(x / cell);
    const cy = Math.floor(y / cell);
    let ok = true;
    for (let dy = -1; dy <= 1 && ok; dy++) {
      for (let dx = -1; dx <= 1 && ok; dx++) {
        for (const q of grid.get((cy + dy) * gw + (cx + dx)) ?? []) {
          const ex = q.x - x;
          const ey = q.y - y;
          if (ex * ex + ey * ey < minSq) {
            ok = false;
            break;
          }
        }
      }
    }
    if (!ok) continue;
    const p = { x, y };
    pts.push(p);
    const key = cy * gw + cx;
    const list = grid.get(key);
    if (list) list.push(p);
    else grid.set(key, [p]);
  }
  if (pts.length < count) {
    throw new UserError(
      `cannot place ${count} points ${minSpacing} mirrors apart on a ${width}x${height} array (placed ${pts.length}); lower count or minSpacing`,
    );
  }
  return maskFromPoints(width, height, pts);
}

/** Single mirrors on a square lattice. */
export function gridPoints(width: number, height: number, pitch: number, offset?: number): Mask {
  checkSize(width, height);
  const o = offset ?? Math.floor(pitch / 2);
  const pts: MaskPoint[] = [];
  for (let y = o; y < height; y += pitch) for (let x = o; x < width; x += pitch) pts.push({ x, y });
  return maskFromPoints(width, height, pts);
}

export interface PairsOptions {
  /** separation of the two points of a pair, in mirrors */
  distance: number;
  count: number;
  seed?: number;
  /** orientation: horizontal, vertical, or a random multiple of 45° */
  orientation?: 'horizontal' | 'vertical' | 'random';
}

/**
 * Pairs of single mirrors at a set separation: the resolution test. Pair centres keep well apart
 * (4× the separation, at least 8 mirrors) so neighbouring pairs do not blur into each other.
 */
export function pairs(width: number, height: number, opts: PairsOptions): Mask {
  const { distance, count } = opts;
  const rng = new Rng((opts.seed ?? 1) + 7919);
  const spacing = Math.max(8, 4 * distance);
  const centres = randomPoints(width, height, {
    count,
    minSpacing: spacing,
    seed: opts.seed ?? 1,
    margin: distance + 1,
  }).points;
  const dirs =
    opts.orientation === 'vertical'
      ? [[0, 1]]
      : opts.orientation === 'random'
        ? [
            [1, 0],
            [0, 1],
            [Math.SQRT1_2, Math.SQRT1_2],
            [Math.SQRT1_2, -Math.SQRT1_2],
          ]
        : [[1, 0]];
  const pts: MaskPoint[] = [];
  for (const c of centres) {
    const [dx, dy] = dirs[Math.floor(rng.uniform() * dirs.length)];
    // put the pair on mirrors: round each end, then the realised separation is what the truth says
    const ax = Math.round(c.x - (dx * distance) / 2);
    const ay = Math.round(c.y - (dy * distance) / 2);
    const bx = Math.round(ax + dx * distance);
    const by = Math.round(ay + dy * distance);
    pts.push({ x: ax, y: ay }, { x: bx, y: by });
  }
  for (const p of pts) {
    p.x = Math.min(width - 1, Math.max(0, p.x));
    p.y = Math.min(height - 1, Math.max(0, p.y));
  }
  return maskFromPoints(width, height, pts);
}

/** Calibration dots: discs of `radius` mirrors on a lattice; ground truth is the disc centres. */
export function dotGrid(width: number, height: number, pitch: number, radius = 1): Mask {
  checkSize(width, height);
  const o = Math.floor(pitch / 2);
  const m = emptyMask(width, height);
  const r2 = radius * radius;
  const r = Math.ceil(radius);
  for (let cy = o; cy < height; cy += pitch) {
    for (let cx = o; cx < width; cx += pitch) {
      m.points.push({ x: cx, y: cy });
      for (let dy = -r; dy <= r; dy++) {
        for (let dx = -r; dx <= r; dx++) {
          const x = cx + dx;
          const y = cy + dy;
          if (dx * dx + dy * dy <= r2 && x >= 0 && y >= 0 && x < width && y < height) m.bits[y * width + x] = 1;
        }
      }
    }
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// JSON spec (MQTT dmd_show)

const positiveInt = z.number().int().positive();

export const patternSpecSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('random'),
      // dart throwing tries up to 200 × count positions: 20 000 points stay well under a second
      count: positiveInt.max(20_000),
      minSpacing: z.number().min(0).max(1000).default(4),
      seed: z.number().int().min(0).default(1),
      margin: z.number().int().min(0).default(0),
    })
    .strict(),
  z
    .object({
      kind: z.literal('grid'),
      pitch: positiveInt.min(2).max(4096),
      offset: z.number().int().min(0).optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('pairs'),
      distance: z.number().positive().max(512),
      count: positiveInt.max(10_000),
      seed: z.number().int().min(0).default(1),
      orientation: z.enum(['horizontal', 'vertical', 'random']).default('horizontal'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('dots'),
      pitch: positiveInt.min(4).max(4096),
      radius: z.number().min(0).max(64).default(1),
    })
    .strict()
    // discs that do not overlap bound the work by the mirror count: each mirror is written at most
    // ~once, where pitch 4 with radius 64 meant (2·64+1)² writes per dot — seconds on the loop
    .refine((d) => 2 * d.radius < d.pitch, { message: 'radius must be less than pitch / 2 (dots must not overlap)', path: ['radius'] }),
  z.object({ kind: z.literal('blank') }).strict(),
]);

export type PatternSpec = z.output<typeof patternSpecSchema>;

function formatIssues(err: z.ZodError): string {
  return err.issues
    .map((i) => {
      const path = i.path.length > 0 ? i.path.join('.') : '(spec)';
      return `${path}: ${i.message}`;
    })
    .join('; ');
}

/** Accepts a parsed object or a JSON string; throws UserError naming every bad field. */
export function parsePatternSpec(json: unknown): PatternSpec {
  let value = json;
  if (typeof json === 'string') {
    try {
      value = JSON.parse(json);
    } catch (err) {
      throw new UserError(`pattern spec is not valid JSON: ${(err as Error).message}`);
    }
  }
  const r = patternSpecSchema.safeParse(value);
  if (!r.success) {
    throw new UserError(
      `invalid pattern spec: ${formatIssues(r.error)} (kinds: random{count,minSpacing,seed}, grid{pitch}, pairs{distance,count}, dots{pitch}, blank)`,
    );
  }
  return r.data;
}

export function renderPattern(spec: PatternSpec, width: number, height: number): Mask {
  switch (spec.kind) {
    case 'random':
      return randomPoints(width, height, spec);
    case 'grid':
      return gridPoints(width, height, spec.pitch, spec.offset);
    case 'pairs':
      return pairs(width, height, spec);
    case 'dots':
      return dotGrid(width, height, spec.pitch, spec.radius);
    case 'blank':
      return emptyMask(width, height);
  }
}

// ---------------------------------------------------------------------------------------------
// DMD → camera

/**
 * camera = A·mirror + b, with mirror centres at (x + 0.5, y + 0.5) and camera pixel centres at
 * integer + 0.5 (the Emitter convention). Default A = scale·I: the DMD re-imaged without rotation.
 */
export interface DmdCameraMapping {
  scale?: number;
  offsetX?: number;
  offsetY?: number;
  /** full 2×2 matrix [a11, a12, a21, a22]; overrides scale */
  matrix?: [number, number, number, number];
  /** photons collected per lit mirror */
  photons?: number;
}

export function mapMirrorToCamera(x: number, y: number, mapping: DmdCameraMapping): { x: number; y: number } {
  const s = mapping.scale ?? 1;
  const [a, b, c, d] = mapping.matrix ?? [s, 0, 0, s];
  const mx = x + 0.5;
  const my = y + 0.5;
  return { x: a * mx + b * my + (mapping.offsetX ?? 0), y: c * mx + d * my + (mapping.offsetY ?? 0) };
}

/** Every lit mirror becomes a point emitter on the camera (mirrors are far below the PSF size). */
export function maskToEmitters(mask: Mask, mapping: DmdCameraMapping = {}): Emitter[] {
  const photons = mapping.photons ?? 1000;
  const out: Emitter[] = [];
  for (let y = 0, i = 0; y < mask.height; y++) {
    for (let x = 0; x < mask.width; x++, i++) {
      if (!mask.bits[i]) continue;
      const p = mapMirrorToCamera(x, y, mapping);
      out.push({ x: p.x, y: p.y, photons });
    }
  }
  return out;
}

/** Ground-truth emitter centres (for scoring) mapped to the camera. */
export function groundTruthEmitters(mask: Mask, mapping: DmdCameraMapping = {}): Emitter[] {
  const photons = mapping.photons ?? 1000;
  return mask.points.map((p) => ({ ...mapMirrorToCamera(p.x, p.y, mapping), photons }));
}
