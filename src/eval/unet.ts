/**
 * Accuracy of nanohole (unet) models (`rayleigh eval --task unet`), on
 *   - a fresh test set from the SCALAR simulator (src/optics/nanohole.ts: Kirchhoff apertures,
 *     angular spectrum, NA low-pass; seeded, never used in training): per largest-sub-Rayleigh-cluster
 *     size 2…10 and a two-hole sweep from the Rayleigh distance 0.677λ down to touching 0.158λ;
 *   - the full-Maxwell FDTD test set in training/fdtd/data/ (when present).
 *
 * Per sample: Pearson correlation of the predicted position map with the binary truth map (the
 * paper's figure), the number of separate blobs above threshold (two-hole resolution), the holes
 * found by the post-processing (src/inference/holes.ts) against the true ones: right count, and the
 * centre error of holes matched within one hole diameter.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { UserError } from '../errors.ts';
import { countComponents, DEFAULT_HOLE_SETTINGS, type HoleSettings } from '../inference/holes.ts';
import { PEAK_DEFAULTS } from '../inference/peaks.ts';
import type { Reconstructor } from '../inference/types.ts';
import { decodeNpy } from '../io/npy.ts';
import { makeImage } from '../optics/image.ts';
import { matchEmitters, pearson } from '../optics/metrics.ts';
import {
  type DiffractionOptions,
  diffractionIntensity,
  drawHoles,
  drawPair,
  type Hole,
  holeMap,
  largestSubRayleighCluster,
  MAGNETIC_DIPOLES,
  MAX_HOLES,
  NANOHOLE,
  NANOHOLE_RADIUS,
} from '../optics/nanohole.ts';
import { Rng } from '../optics/random.ts';
import { cameraGeometry, holesFromMap } from '../pipeline/nanohole-path.ts';

/**
 * The published figures: Pearson correlation with the binary ground-truth map per largest
 * sub-Rayleigh cluster size, from "Retrieving positions of closely packed subwavelength
 * nanoparticles from their diffraction patterns", Appl. Phys. Lett. 124, 151105 (2024), as quoted
 * in issue #16. Sizes the issue does not quote are null (unknown, not zero).
 */
export const PUBLISHED = {
  citation:
    'Appl. Phys. Lett. 124, 151105 (2024), "Retrieving positions of closely packed subwavelength nanoparticles from their diffraction patterns"',
  solver: 'commercial FDTD (full Maxwell), 2 700 test samples',
  pearsonByCluster: { 2: 0.82, 3: 0.81, 4: null, 5: null, 6: null, 7: null, 8: null, 9: null, 10: 0.71 } as Record<number, number | null>,
  twoHole: 'Pearson > 0.8 from 0.677λ down to nearly touching, 0.75 touching (0.158λ)',
} as const;

export const CLUSTER_SIZES = [2, 3, 4, 5, 6, 7, 8, 9, 10] as const;
/** two-hole sweep: Rayleigh distance 0.61λ/NA (just under, so the pair stays linked) down to touching */
export const PAIR_DISTANCES = [0.677, 0.6, 0.5, 0.4, 0.3, 0.25, 0.2, NANOHOLE.holeDiameter] as const;

export interface UnetSample {
  holes: Hole[];
  /** recorded 22λ intensity, 128² (any scale) */
  intensity: Float32Array;
  largestCluster: number;
  kind: 'cluster' | 'pair';
  distance?: number;
}

export interface ScalarSetOptions {
  perCluster: number;
  perDistance: number;
  seed: number;
}

export const DEFAULT_UNET_EVAL: ScalarSetOptions = { perCluster: 30, perDistance: 30, seed: 5_000_000 };

/**
 * The scalar test set: `perCluster` samples per largest-cluster size 2…10 (hole positions drawn with
 * the simulator's own placement, kept when their cluster size still needs samples; only kept ones
 * are propagated), then `perDistance` two-hole samples per sweep distance. Noiseless.
 */
export function scalarTestSet(o: ScalarSetOptions): UnetSample[] {
  const rng = new Rng(o.seed);
  const out: UnetSample[] = [];
  for (const k of CLUSTER_SIZES) {
    let got = 0;
    for (let tries = 0; got < o.perCluster; tries++) {
      if (tries > 2000 * o.perCluster)
        throw new Error(`scalar test set: could not draw ${o.perCluster} samples with a largest cluster of ${k}`);
      // k..k+2 holes: enough to make a cluster of k likely without always making a bigger one
      const n = Math.min(MAX_HOLES, k + rng.int(3));
      const holes = drawHoles(n, NANOHOLE_RADIUS, rng);
      if (largestSubRayleighCluster(holes) !== k) continue;
      out.push({ holes, intensity: diffractionIntensity(holes, NANOHOLE_RADIUS), largestCluster: k, kind: 'cluster' });
      got++;
    }
  }
  for (const d of PAIR_DISTANCES) {
    for (let i = 0; i < o.perDistance; i++) {
      const holes = drawPair(d, NANOHOLE_RADIUS, rng);
      out.push({
        holes,
        intensity: diffractionIntensity(holes, NANOHOLE_RADIUS),
        largestCluster: largestSubRayleighCluster(holes),
        kind: 'pair',
        distance: d,
      });
    }
  }
  return out;
}

/** The FDTD set's recorded intensity (the contract), and its extra file without the film's direct transmission. */
export const FDTD_TOTAL = 'intensity.npy.gz';
export const FDTD_SCATTERED = 'intensity-scattered.npy.gz';

interface FdtdJson {
  generator?: string;
  samples: Array<{ holes: Array<[number, number]>; kind: 'cluster' | 'pair'; distance?: number; largestCluster: number }>;
}

/**
 * The FDTD test set (training/fdtd/data: samples.json + intensity.npy.gz, uint16 (S, 128·128));
 * null when the directory has no set.
 */
export async function loadFdtdSet(dir: string, file = FDTD_TOTAL): Promise<{ samples: UnetSample[]; generator?: string } | null> {
  let jsonText: string;
  let gz: Buffer;
  try {
    jsonText = await readFile(join(dir, 'samples.json'), 'utf8');
    gz = await readFile(join(dir, file));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new UserError(`FDTD test set in ${dir}: ${(e as Error).message}`);
  }
  let meta: FdtdJson;
  try {
    meta = JSON.parse(jsonText) as FdtdJson;
  } catch (e) {
    throw new UserError(`${join(dir, 'samples.json')}: not JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(meta.samples)) throw new UserError(`${join(dir, 'samples.json')}: no "samples" array`);
  const arr = decodeNpy(gunzipSync(gz), join(dir, file));
  const n = NANOHOLE.inputSize * NANOHOLE.inputSize;
  if (arr.width !== n || arr.height !== meta.samples.length) {
    throw new UserError(
      `${join(dir, file)}: shape (${arr.height}, ${arr.width}), samples.json lists ${meta.samples.length} samples of ${n} px`,
    );
  }
  const samples = meta.samples.map((s, i): UnetSample => {
    const holes = s.holes.map(([x, y]) => ({ x, y }));
    const out: UnetSample = {
      holes,
      intensity: arr.data.slice(i * n, (i + 1) * n),
      largestCluster: s.largestCluster,
      kind: s.kind,
    };
    if (s.distance !== undefined) out.distance = s.distance;
    return out;
  });
  return { samples, generator: meta.generator };
}

export interface SampleScore {
  pearson: number;
  /** separate blobs above threshold (no splitting) */
  components: number;
  found: number;
  truth: number;
  matched: number;
  /** sum of squared centre errors of matched holes, λ² */
  sqErr: number;
}

/** Holes matched to the truth within one hole diameter. */
export const MATCH_DISTANCE = NANOHOLE.holeDiameter;

/** One predicted position map (128² probabilities over 2.5λ) against its sample's truth. */
export function scoreSample(map: Float32Array, holes: Hole[], settings: HoleSettings = DEFAULT_HOLE_SETTINGS): SampleScore {
  const M = NANOHOLE.mapSize;
  const truth = Float32Array.from(holeMap(holes, NANOHOLE_RADIUS));
  const r = pearson(makeImage(M, M, map), makeImage(M, M, truth));
  const found = holesFromMap(map, settings, cameraGeometry(settings, { width: NANOHOLE.inputSize, height: NANOHOLE.inputSize })).holes;
  const m = matchEmitters(holes, found, MATCH_DISTANCE);
  let sqErr = 0;
  for (const [ti, fi] of m.pairs) sqErr += (holes[ti].x - found[fi].x) ** 2 + (holes[ti].y - found[fi].y) ** 2;
  return {
    pearson: r,
    components: countComponents(map, M, settings.threshold),
    found: found.length,
    truth: holes.length,
    matched: m.tp,
    sqErr,
  };
}

export interface GroupStats {
  n: number;
  /** mean Pearson correlation with the binary truth map */
  pearson: number;
  /** fraction of samples whose thresholded map has exactly as many separate blobs as holes */
  separated: number;
  /** fraction with the right number of holes after post-processing */
  countAccuracy: number;
  /** centre RMSE of matched holes, λ (null when none matched) */
  rmse: number | null;
  /** matched / true holes */
  recall: number;
}

export function aggregate(scores: SampleScore[]): GroupStats {
  const n = scores.length;
  let p = 0;
  let sep = 0;
  let ok = 0;
  let matched = 0;
  let truth = 0;
  let se = 0;
  for (const s of scores) {
    p += s.pearson;
    if (s.components === s.truth) sep++;
    if (s.found === s.truth) ok++;
    matched += s.matched;
    truth += s.truth;
    se += s.sqErr;
  }
  return {
    n,
    pearson: n ? p / n : Number.NaN,
    separated: n ? sep / n : Number.NaN,
    countAccuracy: n ? ok / n : Number.NaN,
    rmse: matched ? Math.sqrt(se / matched) : null,
    recall: truth ? matched / truth : Number.NaN,
  };
}

export interface SetResult {
  samples: number;
  /** engine id → cluster size → stats (cluster samples) */
  byCluster: Record<string, Record<string, GroupStats>>;
  /** engine id → two-hole distance (λ, 3 decimals) → stats (pair samples) */
  byDistance: Record<string, Record<string, GroupStats>>;
  /** engine id → every cluster sample */
  clusters: Record<string, GroupStats>;
  /**
   * the binary truth map itself through the same post-processing: what a perfect model would
   * score on counting, blob separation and centre error (touching holes are one blob even then)
   */
  ideal: { byCluster: Record<string, GroupStats>; byDistance: Record<string, GroupStats>; clusters: GroupStats };
}

/** Scores grouped the way the report shows them. */
class Groups {
  readonly byCluster = new Map<string, SampleScore[]>();
  readonly byDistance = new Map<string, SampleScore[]>();
  readonly clusters: SampleScore[] = [];

  add(s: UnetSample, score: SampleScore): void {
    if (s.kind === 'pair' && s.distance !== undefined) {
      const k = distanceKey(s.distance);
      this.byDistance.set(k, [...(this.byDistance.get(k) ?? []), score]);
    } else {
      const k = String(s.largestCluster);
      this.byCluster.set(k, [...(this.byCluster.get(k) ?? []), score]);
      this.clusters.push(score);
    }
  }

  stats(): { byCluster: Record<string, GroupStats>; byDistance: Record<string, GroupStats>; clusters: GroupStats } {
    return {
      byCluster: Object.fromEntries([...this.byCluster].sort((a, b) => Number(a[0]) - Number(b[0])).map(([k, v]) => [k, aggregate(v)])),
      byDistance: Object.fromEntries([...this.byDistance].sort((a, b) => Number(b[0]) - Number(a[0])).map(([k, v]) => [k, aggregate(v)])),
      clusters: aggregate(this.clusters),
    };
  }
}

export interface UnetEvalOptions {
  holes?: HoleSettings;
  onProgress?: (message: string) => void;
}

const distanceKey = (d: number) => d.toFixed(3);

/** Every engine on every sample of a set, grouped by cluster size and pair distance. */
export async function evaluateSet(engines: Reconstructor[], samples: UnetSample[], o: UnetEvalOptions = {}): Promise<SetResult> {
  const settings = o.holes ?? DEFAULT_HOLE_SETTINGS;
  const N = NANOHOLE.inputSize;
  const ideal = new Groups();
  for (const s of samples) ideal.add(s, scoreSample(Float32Array.from(holeMap(s.holes, NANOHOLE_RADIUS)), s.holes, settings));
  const result: SetResult = { samples: samples.length, byCluster: {}, byDistance: {}, clusters: {}, ideal: ideal.stats() };
  for (const e of engines) {
    const groups = new Groups();
    for (const [i, s] of samples.entries()) {
      const out = await e.process({
        image: makeImage(N, N, Float32Array.from(s.intensity)),
        postprocess: { ...PEAK_DEFAULTS, maxLocalizations: 0 },
        fullMap: true,
        holes: settings,
      });
      if (!out.map || !out.holes) throw new UserError(`model "${e.id}" is not a nanohole (unet) model: it returned no position map`);
      groups.add(s, scoreSample(out.map.data, s.holes, settings));
      if ((i + 1) % 100 === 0) o.onProgress?.(`${e.id}: ${i + 1}/${samples.length} samples`);
    }
    const st = groups.stats();
    result.byCluster[e.id] = st.byCluster;
    result.byDistance[e.id] = st.byDistance;
    result.clusters[e.id] = st.clusters;
  }
  return result;
}

export interface UnetEvalReport {
  simulator: string;
  published: typeof PUBLISHED;
  options: ScalarSetOptions & { matchDistance: number; holes: HoleSettings };
  engines: string[];
  /** the INT8 engine the headline fields describe */
  int8: string;
  fp32: string | null;
  scalar: SetResult;
  fdtd: (SetResult & { source: string; generator?: string }) | null;
  /**
   * the same FDTD samples with the bare film's uniform direct transmission subtracted before
   * propagation (the holes' scattered field only; training/fdtd), when the set has that file
   */
  fdtd_scattered: (SetResult & { source: string }) | null;
  /**
   * mean Pearson correlation of the FDTD recorded intensity with the scalar simulator's intensity
   * for the same holes: how far the simulator the models were trained on is from full Maxwell
   */
  fdtd_vs_scalar_intensity: {
    total: number;
    scattered: number | null;
    /** the scattered field against the simulator's vector holes (magnetic dipole, η = 0, opaque) */
    scattered_vector: number | null;
    samples: number;
  } | null;
  /** cluster size → INT8 mean Pearson, scalar set */
  pearson_by_cluster: Record<string, number>;
  /** the same on the FDTD set (null without one) */
  pearson_by_cluster_fdtd: Record<string, number> | null;
  /** two-hole distance (λ) → INT8 mean Pearson, scalar set */
  pearson_by_distance: Record<string, number>;
  /** INT8, scalar cluster samples: fraction with the right number of holes */
  count_accuracy: number;
  /** INT8, scalar cluster samples: centre RMSE of matched holes, λ */
  centre_rmse: number | null;
  pearson_by_cluster_fp32: Record<string, number> | null;
  pearson_by_distance_fdtd: Record<string, number> | null;
  count_accuracy_fdtd: number | null;
}

const pearsons = (g: Record<string, GroupStats> | undefined): Record<string, number> =>
  Object.fromEntries(Object.entries(g ?? {}).map(([k, v]) => [k, v.pearson]));

export async function evaluateUnet(
  engines: Reconstructor[],
  names: { int8: string; fp32: string | null },
  o: ScalarSetOptions &
    UnetEvalOptions & { fdtdDir?: string /** how the report names the FDTD directory (default: as given) */; fdtdLabel?: string },
): Promise<UnetEvalReport> {
  const settings = o.holes ?? DEFAULT_HOLE_SETTINGS;
  o.onProgress?.(`scalar test set: ${o.perCluster} per cluster size 2..10, ${o.perDistance} per two-hole distance, seed ${o.seed}`);
  const scalarSamples = scalarTestSet(o);
  const scalar = await evaluateSet(engines, scalarSamples, o);
  let fdtd: UnetEvalReport['fdtd'] = null;
  let fdtdScattered: UnetEvalReport['fdtd_scattered'] = null;
  let agreement: UnetEvalReport['fdtd_vs_scalar_intensity'] = null;
  if (o.fdtdDir) {
    const set = await loadFdtdSet(o.fdtdDir);
    if (!set) o.onProgress?.(`no FDTD test set in ${o.fdtdDir} (samples.json + intensity.npy.gz): skipped`);
    else {
      o.onProgress?.(`FDTD test set: ${set.samples.length} samples from ${o.fdtdDir}`);
      const label = o.fdtdLabel ?? o.fdtdDir;
      fdtd = { ...(await evaluateSet(engines, set.samples, o)), source: label, generator: set.generator };
      const scattered = await loadFdtdSet(o.fdtdDir, FDTD_SCATTERED);
      if (scattered) {
        o.onProgress?.(`FDTD scattered-field variant: ${scattered.samples.length} samples`);
        fdtdScattered = { ...(await evaluateSet(engines, scattered.samples, o)), source: join(label, FDTD_SCATTERED) };
      }
      agreement = intensityAgreement(set.samples, scattered?.samples);
    }
  }
  return {
    simulator: 'scalar simulator (Kirchhoff apertures, angular-spectrum propagation to H = 1λ, NA 0.9 low-pass; src/optics/nanohole.ts)',
    published: PUBLISHED,
    options: { perCluster: o.perCluster, perDistance: o.perDistance, seed: o.seed, matchDistance: MATCH_DISTANCE, holes: settings },
    engines: engines.map((e) => e.id),
    int8: names.int8,
    fp32: names.fp32,
    scalar,
    fdtd,
    fdtd_scattered: fdtdScattered,
    fdtd_vs_scalar_intensity: agreement,
    pearson_by_cluster: pearsons(scalar.byCluster[names.int8]),
    pearson_by_cluster_fdtd: fdtd ? pearsons(fdtd.byCluster[names.int8]) : null,
    pearson_by_distance: pearsons(scalar.byDistance[names.int8]),
    count_accuracy: scalar.clusters[names.int8]?.countAccuracy ?? Number.NaN,
    centre_rmse: scalar.clusters[names.int8]?.rmse ?? null,
    pearson_by_cluster_fp32: names.fp32 ? pearsons(scalar.byCluster[names.fp32]) : null,
    pearson_by_distance_fdtd: fdtd ? pearsons(fdtd.byDistance[names.int8]) : null,
    count_accuracy_fdtd: fdtd ? (fdtd.clusters[names.int8]?.countAccuracy ?? null) : null,
  };
}

/** Mean Pearson of FDTD intensities with the fast simulator's for the same holes (scalar, and vector for the scattered field). */
function intensityAgreement(total: UnetSample[], scattered?: UnetSample[]): NonNullable<UnetEvalReport['fdtd_vs_scalar_intensity']> {
  const N = NANOHOLE.inputSize;
  const mean = (set: UnetSample[], opts: DiffractionOptions = {}) => {
    let sum = 0;
    for (const s of set)
      sum += pearson(makeImage(N, N, diffractionIntensity(s.holes, NANOHOLE_RADIUS, opts)), makeImage(N, N, s.intensity));
    return set.length ? sum / set.length : Number.NaN;
  };
  return {
    total: mean(total),
    scattered: scattered ? mean(scattered) : null,
    scattered_vector: scattered ? mean(scattered, { dipoles: MAGNETIC_DIPOLES }) : null,
    samples: total.length,
  };
}

const f2 = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(2));
const f3 = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(3));

/** The Markdown tables of a report (bench/results/eval-unet.md and the command's plain output). */
export function formatUnetReport(r: UnetEvalReport, command: string): string {
  const ids = r.fp32 ? [r.int8, r.fp32] : [r.int8];
  const lines: string[] = [];
  lines.push('# Nanohole localisation (unet): measured accuracy', '');
  lines.push(`Generated by \`${command}\`. Test sets: the **${r.simulator}**, seed ${r.options.seed}, noiseless`);
  lines.push(
    `(${r.options.perCluster} samples per largest sub-Rayleigh cluster size, ${r.options.perDistance} per two-hole distance; ${r.scalar.samples} in all)` +
      (r.fdtd
        ? `, and the FDTD (full-Maxwell, Meep) test set in \`${r.fdtd.source}\` (${r.fdtd.samples} samples).`
        : '; no FDTD test set was found.'),
  );
  lines.push(
    `Pearson = correlation of the predicted position map with the binary truth map (128² over 2.5λ). Holes: threshold ${r.options.holes.threshold}, blobs split by disk area (src/inference/holes.ts); matched within ${r.options.matchDistance.toFixed(3)}λ (one hole diameter).`,
  );
  lines.push(`Published: ${r.published.citation}; ${r.published.solver}. "–" = not stated in the issue.`, '');
  const clusterTable = (set: SetResult, label: string) => {
    if (!Object.keys(set.byCluster[ids[0]] ?? {}).length) {
      lines.push(`## Pearson per largest sub-Rayleigh cluster size — ${label}`, '', 'No cluster samples in this set yet.', '');
      return;
    }
    lines.push(`## Pearson per largest sub-Rayleigh cluster size — ${label}`, '');
    const head = [
      'cluster size',
      'n',
      ...ids.flatMap((id) => [`${id} Pearson`, `${id} count acc.`, `${id} RMSE λ`]),
      'published Pearson',
      'truth map: count acc.',
    ];
    lines.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`);
    const sizes = new Set<string>();
    for (const id of ids) for (const k of Object.keys(set.byCluster[id] ?? {})) sizes.add(k);
    for (const k of [...sizes].sort((a, b) => Number(a) - Number(b))) {
      const g0 = set.byCluster[ids[0]]?.[k];
      const cells = [k, String(g0?.n ?? 0)];
      for (const id of ids) {
        const g = set.byCluster[id]?.[k];
        cells.push(f3(g?.pearson), f2(g?.countAccuracy), f3(g?.rmse));
      }
      cells.push(f2(r.published.pearsonByCluster[Number(k)]), f2(set.ideal.byCluster[k]?.countAccuracy));
      lines.push(`| ${cells.join(' | ')} |`);
    }
    const all = ids.map((id) => set.clusters[id]);
    lines.push(
      `| all | ${all[0]?.n ?? 0} | ${all.map((g) => `${f3(g?.pearson)} | ${f2(g?.countAccuracy)} | ${f3(g?.rmse)}`).join(' | ')} | | ${f2(set.ideal.clusters.countAccuracy)} |`,
      '',
      '"truth map": the binary truth map itself through the same post-processing (what a perfect model would score).',
      '',
    );
  };
  const pairTable = (set: SetResult, label: string) => {
    lines.push(`## Two-hole sweep — ${label}`, '');
    const head = [
      'distance λ',
      'n',
      ...ids.flatMap((id) => [`${id} Pearson`, `${id} two blobs`, `${id} count acc.`, `${id} RMSE λ`]),
      'truth map: two blobs / count acc.',
    ];
    lines.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`);
    const ds = Object.keys(set.byDistance[ids[0]] ?? {});
    for (const d of ds) {
      const cells = [d, String(set.byDistance[ids[0]]?.[d]?.n ?? 0)];
      for (const id of ids) {
        const g = set.byDistance[id]?.[d];
        cells.push(f3(g?.pearson), f2(g?.separated), f2(g?.countAccuracy), f3(g?.rmse));
      }
      const id = set.ideal.byDistance[d];
      cells.push(`${f2(id?.separated)} / ${f2(id?.countAccuracy)}`);
      lines.push(`| ${cells.join(' | ')} |`);
    }
    lines.push(
      '',
      `"two blobs": the thresholded map has two separate 4-connected blobs (touching holes merge even in the truth map; "count acc." counts after splitting blobs by area). Published: ${r.published.twoHole}.`,
      '',
    );
  };
  clusterTable(r.scalar, 'scalar simulator');
  pairTable(r.scalar, 'scalar simulator');
  if (r.fdtd) {
    const a = r.fdtd_vs_scalar_intensity;
    if (a) {
      lines.push('## FDTD against the scalar simulator', '');
      lines.push(
        `Mean Pearson correlation of the FDTD recorded intensity with the scalar simulator's intensity for the same holes (${a.samples} samples): ` +
          `**${f3(a.total)}** for the recorded (total) field` +
          (a.scattered !== null
            ? `, **${f3(a.scattered)}** for the holes' scattered field alone (the film's direct transmission subtracted)` +
              (a.scattered_vector !== null && a.scattered_vector !== undefined
                ? `, and **${f3(a.scattered_vector)}** for the scattered field against the simulator's vector holes (\`--vector\`: x-polarised magnetic dipoles, opaque).`
                : '.')
            : '.'),
        '',
      );
    }
    clusterTable(r.fdtd, 'FDTD (Meep), recorded intensity');
    if (Object.keys(r.fdtd.byDistance[ids[0]] ?? {}).length) pairTable(r.fdtd, 'FDTD (Meep), recorded intensity');
  }
  if (r.fdtd_scattered) {
    clusterTable(r.fdtd_scattered, "FDTD (Meep), holes' scattered field only");
    if (Object.keys(r.fdtd_scattered.byDistance[ids[0]] ?? {}).length)
      pairTable(r.fdtd_scattered, "FDTD (Meep), holes' scattered field only");
  }
  return `${lines.join('\n')}\n`;
}
