import type { BrightnessModel } from '../optics/brightness.ts';
import type { CameraPreset } from '../optics/camera.ts';
import type { Psf } from '../optics/psf.ts';

export type BackgroundKind = 'none' | 'gradient' | 'blobs' | 'both';

/** Which part of the table a condition belongs to (also a `--conditions` group name). */
export type ConditionGroup = 'equal' | 'spread' | 'realism' | 'isolated';

/** One imaging condition of the accuracy table (issue #3, #13 / README). Densities per 50×50 px. */
export interface EvalCondition {
  name: string;
  psf: Psf;
  density: number;
  /** photons per emitter, or the brightness scale P of `brightness` */
  photons: number;
  background: number;
  /** per-emitter brightness within a frame (default 'equal') */
  brightness?: BrightnessModel;
  /** camera preset (default 'ideal': photon counts) */
  camera?: CameraPreset;
  /** background structure on top of the mean level (default 'none') */
  structure?: BackgroundKind;
  /**
   * Isolated-emitter scenes: emitters on a jittered grid `spacing` px apart (no Poisson scene),
   * photons log-uniform in `photons`, one PSF width per frame uniform in `psfWidth` (the PSF's
   * shape is `psf.shape`; `psf.width` is then only the range's midpoint, for the oracle).
   */
  isolated?: { spacing: number; photons: [number, number]; psfWidth: [number, number] };
  group?: ConditionGroup;
  /**
   * Which block of test seeds the condition draws (seed + 100 000·seedIndex + frame): fixed per
   * condition, whatever `--conditions` selects. The seven keep their original blocks 0–6; their
   * DAMN-spread twins share them (same positions, brightness drawn after: paired frames).
   */
  seedIndex?: number;
}

const base = { psf: { shape: 'gauss', width: 2 } as Psf, density: 50, photons: 5000, background: 10 };

/** The seven conditions of the original table, equal brightness (seeded frames unchanged). */
const EQUAL: EvalCondition[] = [
  { name: 'default', ...base },
  { name: 'sparse', ...base, density: 10 },
  { name: 'dense', ...base, density: 200 },
  { name: 'narrow', ...base, psf: { shape: 'gauss', width: 1 } },
  { name: 'wide', ...base, psf: { shape: 'gauss', width: 4 } },
  { name: 'airy', ...base, psf: { shape: 'airy', width: 2 } },
  { name: 'low-snr', ...base, photons: 500 },
];

/** The default PSF with a mixed low-order aberration of 0.12 waves RMS (a modest real objective). */
export const ABERRATED_PSF: Psf = {
  shape: 'airy',
  width: 2,
  aberration: { defocus: 0.06, astigmatism: 0.06, comaX: 0.05, spherical: 0.06 },
};

export const DAMN_CONDITIONS: readonly EvalCondition[] = [
  ...EQUAL.map((c, i) => ({ ...c, group: 'equal' as const, seedIndex: i })),
  // the same seven with the DAMN paper's per-emitter spread Poisson(P)·U(0.1, 1)
  ...EQUAL.map((c, i) => ({ ...c, name: `${c.name}-damn`, brightness: 'damn' as const, group: 'spread' as const, seedIndex: i })),
  // one factor at a time against 'default', on its frames' emitter positions (seed block 0)
  { name: 'wide-spread', ...base, brightness: 'wide', group: 'realism', seedIndex: 0 },
  { name: 'scmos', ...base, camera: 'scmos', group: 'realism', seedIndex: 0 },
  { name: 'emccd', ...base, camera: 'emccd', group: 'realism', seedIndex: 0 },
  { name: 'aberrated', ...base, psf: ABERRATED_PSF, group: 'realism', seedIndex: 0 },
  { name: 'structured-bg', ...base, structure: 'both', group: 'realism', seedIndex: 0 },
  { name: 'undersampled', ...base, psf: { shape: 'gauss', width: 0.5 }, group: 'realism', seedIndex: 0 },
  {
    seedIndex: 13,
    name: 'isolated',
    ...base,
    psf: { shape: 'gauss', width: 1.75 },
    photons: Math.sqrt(500 * 20_000),
    isolated: { spacing: 16, photons: [500, 20_000], psfWidth: [1, 2.5] },
    group: 'isolated',
  },
];

/** Names and group names `--conditions` accepts, resolved to conditions (order of the table). */
export function selectConditions(spec: string): EvalCondition[] {
  const want = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const groups = new Set(['equal', 'spread', 'realism', 'isolated', 'all']);
  const unknown = want.filter((w) => !groups.has(w) && !DAMN_CONDITIONS.some((c) => c.name === w));
  if (unknown.length) {
    throw new Error(
      `unknown condition(s) ${unknown.join(', ')} (use ${DAMN_CONDITIONS.map((c) => c.name).join(', ')}, or a group: ${[...groups].join(', ')})`,
    );
  }
  return DAMN_CONDITIONS.filter((c) => want.includes('all') || want.includes(c.name) || (c.group !== undefined && want.includes(c.group)));
}

/** Test seeds live at and above this; training uses seeds below it. */
export const TEST_SEED_BASE = 1_000_000;
