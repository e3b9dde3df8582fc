/**
 * `rayleigh simulate` — simulated training/test samples, streamed as binary (see
 * src/optics/stream.ts) or written as .npy files. `--task damn`: emitter frames
 * (src/optics/sample.ts); `--task unet`: nanohole diffraction patterns from the scalar simulator
 * (src/optics/nanohole.ts).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../errors.ts';
import { encodeNpy } from '../io/npy.ts';
import { BACKGROUND_PRESETS, parseBackgroundStructure } from '../optics/background.ts';
import { parseBrightnessModels } from '../optics/brightness.ts';
import { parseCameraPresets } from '../optics/camera.ts';
import { makeImage } from '../optics/image.ts';
import {
  type FilmTransmission,
  type HoleDipoles,
  MAX_HOLES,
  NANOHOLE,
  type NanoholeSample,
  PAIR_DISTANCE_RANGE,
  simulateNanohole,
} from '../optics/nanohole.ts';
import { MAX_ZERNIKE_WAVES } from '../optics/pupil.ts';
import { Rng } from '../optics/random.ts';
import {
  type DamnSampleSpec,
  DEFAULT_ABERRATION,
  DEFAULT_DAMN_SPEC,
  drawDamnSample,
  type LinearRange,
  parseLogRange,
  parsePsfShapes,
} from '../optics/sample.ts';
import { encodeNanoholeRecord, encodeStreamHeader, encodeStreamRecord, type NanoholeRecordConditions } from '../optics/stream.ts';

interface DamnCliOptions {
  task: string;
  size: string;
  scale: string;
  count?: string;
  seed?: string;
  stream?: boolean;
  out?: string;
  psf: string;
  psfWidth: string;
  photons: string;
  background: string;
  density: string;
  brightness: string;
  camera: string;
  backgroundStructure: string;
  psfEllipticity?: string;
  aberration: string;
}

interface NanoholeCliOptions {
  holes: string;
  pairFraction: string;
  pairDistance: string;
  framePhotons: string;
  readNoise: string;
  binning: string;
  pixelIntegration?: boolean;
  filmAmplitude?: string;
  filmPhase?: string;
  vector?: boolean;
  dipoleRatio?: string;
  dipolePhase?: string;
}

type SimulateOptions = DamnCliOptions & NanoholeCliOptions;

/** "a:b" or "a" → a uniform range within [0, max] */
function parseLinearRange(text: string, name: string, max: number): LinearRange {
  const parts = String(text).trim().split(':');
  const nums = parts.map((p) => Number(p));
  if (parts.length > 2 || nums.some((v) => !Number.isFinite(v) || v < 0 || v > max)) {
    throw new UserError(`--${name}: expected "a" or "a:b" with 0 ≤ a ≤ b ≤ ${max}, got "${text}"`);
  }
  const r = { min: nums[0], max: nums[nums.length - 1] };
  if (r.max < r.min) throw new UserError(`--${name}: range "${text}" has max < min`);
  return r;
}

function positiveInt(text: string, name: string, max: number): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v <= 0 || v > max) throw new UserError(`--${name}: expected an integer in 1..${max}, got "${text}"`);
  return v;
}

/** "64" → 64×64, "96x64" → width 96, height 64 */
function parseSize(text: string): { width: number; height: number } {
  const m = /^(\d+)(?:[x×](\d+))?$/.exec(String(text).trim());
  if (!m) throw new UserError(`--size: expected N or WxH, got "${text}"`);
  const width = positiveInt(m[1], 'size', 4096);
  const height = m[2] ? positiveInt(m[2], 'size', 4096) : width;
  if (width < 4 || height < 4) throw new UserError('--size: frames must be at least 4×4');
  return { width, height };
}

export function buildDamnSpec(o: DamnCliOptions): DamnSampleSpec {
  const { width, height } = parseSize(o.size);
  const scale = positiveInt(o.scale, 'scale', 16);
  if (width * scale * height * scale > 64 * 1024 * 1024) throw new UserError('--size/--scale: truth grid too large');
  return {
    width,
    height,
    scale,
    psfShapes: parsePsfShapes(o.psf),
    psfWidth: parseLogRange(o.psfWidth, 'psf-width'),
    photons: parseLogRange(o.photons, 'photons'),
    background: parseLogRange(o.background, 'background', true),
    density: parseLogRange(o.density, 'density', true),
    ...realism(o),
  };
}

/** the realism options, each left out when it is the original simulator's behaviour */
function realism(o: DamnCliOptions): Partial<DamnSampleSpec> {
  const out: Partial<DamnSampleSpec> = {};
  const brightness = parseBrightnessModels(o.brightness);
  if (!(brightness.length === 1 && brightness[0] === 'equal')) out.brightness = brightness;
  const cameras = parseCameraPresets(o.camera);
  if (!(cameras.length === 1 && cameras[0] === 'ideal')) out.cameras = cameras;
  const structure = parseBackgroundStructure(o.backgroundStructure);
  if (!(structure.length === 1 && structure[0] === BACKGROUND_PRESETS.none)) out.backgroundStructure = structure;
  if (o.psfEllipticity !== undefined) {
    const e = parseLogRange(o.psfEllipticity, 'psf-ellipticity');
    if (e.min < 1) throw new UserError('--psf-ellipticity: the axis ratio σ1/σ2 must be ≥ 1');
    out.ellipticity = e;
  }
  // total RMS ≤ 0.3 keeps every term within the pupil model's ±0.5 waves
  out.aberration = parseLinearRange(o.aberration, 'aberration', 0.6 * MAX_ZERNIKE_WAVES);
  return out;
}

const fmtRange = (r: { min: number; max: number }): string => (r.min === r.max ? `${r.min}` : `${r.min}:${r.max}`);

export function register(program: Command): void {
  const d = DEFAULT_DAMN_SPEC;
  program
    .command('simulate')
    .description('write or stream simulated samples (training data, tests)')
    .option('--task <task>', 'damn (emitters) or unet (nanoholes)', 'damn')
    .option('--size <N|WxH>', 'camera frame size in pixels', String(d.width))
    .option('--scale <k>', 'truth grid is k× finer than the camera', String(d.scale))
    .option('--count <n>', 'number of samples (default: endless with --stream, 100 with --out)')
    .option('--seed <s>', 'random seed (default: random, printed to stderr)')
    .option('--stream', 'write the binary sample stream to stdout')
    .option('--out <dir>', 'write frame_XXXX.npy, truth_XXXX.npy and params_XXXX.json')
    .option('--psf <shapes>', 'comma-separated PSF shapes chosen uniformly', d.psfShapes.join(','))
    .option('--psf-width <a:b>', 'PSF width σ in camera px (log-uniform range or fixed)', '0.56:17.8')
    .option('--photons <a:b>', 'photons per emitter', fmtRange(d.photons))
    .option('--background <a:b>', 'mean background photons per pixel', fmtRange(d.background))
    .option('--density <a:b>', 'emitters per 50×50 px', fmtRange(d.density))
    .option(
      '--brightness <models>',
      'per-emitter brightness within a frame, comma list: equal, damn (Poisson(P)·U(0.1,1)), wide (P·10^U(−2,0))',
      'equal',
    )
    .option('--camera <presets>', 'camera, comma list: ideal (photon counts), scmos, emccd, cmos-astro (ADU frames)', 'ideal')
    .option('--background-structure <kinds>', 'background on top of the mean level, comma list: none, gradient, blobs, both', 'none')
    .option('--psf-ellipticity <a:b>', 'gauss samples: axis ratio σ1/σ2 ≥ 1 (log-uniform), random angle; default circular')
    .option('--aberration <a:b>', "'pupil' samples: total RMS wavefront error in waves (uniform; ≤ 0.3)", fmtRange(DEFAULT_ABERRATION))
    .option('--holes <a:b>', `unet: holes per sample (uniform integer range within 1..${MAX_HOLES})`, `1:${MAX_HOLES}`)
    .option('--pair-fraction <p>', 'unet: fraction of samples in two-hole mode', '0')
    .option(
      '--pair-distance <a:b>',
      'unet: two-hole centre distance in λ (uniform)',
      `${PAIR_DISTANCE_RANGE.min.toFixed(4)}:${PAIR_DISTANCE_RANGE.max}`,
    )
    .option('--frame-photons <a:b>', 'unet: expected photons per 22λ frame (log-uniform; 0 = noiseless intensity)', '0')
    .option('--read-noise <a:b>', 'unet: Gaussian read noise σ per pixel in photons (uniform; needs --frame-photons)', '0')
    .option('--binning <k>', 'unet: camera pixel = k×k grid pixels (1, 2, 4, …; the stored frame stays 128×128)', '1')
    .option('--film-amplitude <a:b>', 'unet: amplitude transmission |t| of the film around the holes (uniform; default 0 = opaque)', '0')
    .option('--film-phase <a:b>', 'unet: phase of t in degrees (uniform)', '0')
    .option(
      '--vector',
      'unet: vector holes under x polarisation (magnetic + electric dipole; HoleDipoles in src/optics/nanohole.ts) instead of scalar Kirchhoff',
    )
    .option('--dipole-ratio <a:b>', 'unet, with --vector: |η|, electric (x) to magnetic (y) dipole ratio (uniform)', '0')
    .option('--dipole-phase <a:b>', 'unet, with --vector: arg η in degrees (uniform)', '0')
    .option('--pixel-integration', 'unet: integrate the intensity over each camera pixel instead of sampling its centre')
    .action(async (o: SimulateOptions) => {
      await runSimulate(o);
    });
}

function fraction(text: string, name: string): number {
  const v = Number(text);
  if (!Number.isFinite(v) || v < 0 || v > 1) throw new UserError(`--${name}: expected a number in 0..1, got "${text}"`);
  return v;
}

export interface NanoholeSpec {
  minHoles: number;
  maxHoles: number;
  pairFraction: number;
  pairDistance: LinearRange;
  /** log-uniform; max 0 = noiseless */
  framePhotons: { min: number; max: number };
  readNoise: LinearRange;
  binning: number;
  pixelIntegration: boolean;
  /** |t| of the film (max 0: opaque) and its phase in degrees */
  filmAmplitude: LinearRange;
  filmPhase: LinearRange;
  /** vector holes: |η| and arg η in degrees; absent: scalar Kirchhoff */
  dipoles?: { ratio: LinearRange; phase: LinearRange };
}

export function buildNanoholeSpec(o: NanoholeCliOptions): NanoholeSpec {
  const holes = parseLinearRange(o.holes, 'holes', MAX_HOLES);
  if (!Number.isInteger(holes.min) || !Number.isInteger(holes.max) || holes.min < 1) {
    throw new UserError(`--holes: expected integers within 1..${MAX_HOLES}, got "${o.holes}"`);
  }
  const pairDistance = parseLinearRange(o.pairDistance, 'pair-distance', NANOHOLE.area / 2);
  if (pairDistance.min < PAIR_DISTANCE_RANGE.min - 1e-9) {
    throw new UserError(`--pair-distance: holes overlap below ${PAIR_DISTANCE_RANGE.min.toFixed(4)}λ (touching), got "${o.pairDistance}"`);
  }
  pairDistance.min = Math.max(pairDistance.min, PAIR_DISTANCE_RANGE.min);
  pairDistance.max = Math.max(pairDistance.max, pairDistance.min);
  const framePhotons = parseLogRange(o.framePhotons, 'frame-photons', true);
  const readNoise = parseLinearRange(o.readNoise, 'read-noise', 1e6);
  if (readNoise.max > 0 && framePhotons.max === 0) throw new UserError('--read-noise needs --frame-photons (a photon budget)');
  const binning = positiveInt(o.binning, 'binning', NANOHOLE.inputSize);
  const dipoleRatio = parseLinearRange(o.dipoleRatio ?? '0', 'dipole-ratio', 10);
  const dipolePhase = parseLinearRange(o.dipolePhase ?? '0', 'dipole-phase', 360);
  if (!o.vector && (dipoleRatio.max > 0 || dipolePhase.max > 0)) throw new UserError('--dipole-ratio and --dipole-phase need --vector');
  if (NANOHOLE.inputSize % binning !== 0) throw new UserError(`--binning: must divide ${NANOHOLE.inputSize}, got ${binning}`);
  return {
    minHoles: holes.min,
    maxHoles: holes.max,
    pairFraction: fraction(o.pairFraction, 'pair-fraction'),
    pairDistance,
    framePhotons,
    readNoise,
    binning,
    pixelIntegration: o.pixelIntegration === true,
    filmAmplitude: parseLinearRange(o.filmAmplitude ?? '0', 'film-amplitude', 1),
    filmPhase: parseLinearRange(o.filmPhase ?? '0', 'film-phase', 360),
    ...(o.vector ? { dipoles: { ratio: dipoleRatio, phase: dipolePhase } } : {}),
  };
}

/** one nanohole sample under the spec, with the conditions it was drawn with */
export function drawNanohole(
  rng: Rng,
  spec: NanoholeSpec,
): { sample: NanoholeSample; conditions: NanoholeRecordConditions; film?: FilmTransmission; dipoles?: HoleDipoles } {
  const pair = spec.pairFraction > 0 && rng.uniform() < spec.pairFraction;
  const photons = spec.framePhotons.max > 0 ? rng.logUniform(spec.framePhotons.min, spec.framePhotons.max) : 0;
  const readNoise = photons > 0 && spec.readNoise.max > 0 ? rng.range(spec.readNoise.min, spec.readNoise.max) : 0;
  const conditions = { photons, readNoise, binning: spec.binning, pixelIntegration: spec.pixelIntegration };
  const film =
    spec.filmAmplitude.max > 0
      ? {
          amplitude: rng.range(spec.filmAmplitude.min, spec.filmAmplitude.max),
          phase: (rng.range(spec.filmPhase.min, spec.filmPhase.max) * Math.PI) / 180,
        }
      : undefined;
  const dipoles = spec.dipoles
    ? {
        ratio: rng.range(spec.dipoles.ratio.min, spec.dipoles.ratio.max),
        phase: (rng.range(spec.dipoles.phase.min, spec.dipoles.phase.max) * Math.PI) / 180,
      }
    : undefined;
  const sample = simulateNanohole(
    {
      minHoles: spec.minHoles,
      maxHoles: spec.maxHoles,
      pairDistance: pair ? rng.range(spec.pairDistance.min, spec.pairDistance.max) : undefined,
      noise: { photons, readNoise },
      camera: { binning: spec.binning, pixelIntegration: spec.pixelIntegration },
      film,
      dipoles,
    },
    rng,
  );
  return { sample, conditions, film, dipoles };
}

function parseSeed(o: { seed?: string }): number {
  if (o.seed !== undefined) {
    const seed = Number(o.seed);
    if (!Number.isInteger(seed)) throw new UserError(`--seed: expected an integer, got "${o.seed}"`);
    return seed;
  }
  const seed = Math.floor(Math.random() * 2 ** 31);
  process.stderr.write(`rayleigh simulate: seed ${seed}\n`);
  return seed;
}

async function runSimulate(o: SimulateOptions): Promise<void> {
  if (o.task !== 'damn' && o.task !== 'unet') throw new UserError(`--task: unknown task "${o.task}" (use damn or unet)`);
  if (o.stream && o.out) throw new UserError('give either --stream or --out, not both');
  if (!o.stream && !o.out) throw new UserError('simulate: give --stream (binary to stdout) or --out DIR');
  const count = o.count !== undefined ? positiveInt(o.count, 'count', 1e9) : undefined;
  if (o.task === 'unet') {
    const spec = buildNanoholeSpec(o);
    const seed = parseSeed(o);
    if (o.stream) {
      const rng = new Rng(seed);
      const n = NANOHOLE.inputSize;
      return streamRecords(encodeStreamHeader(n, n, 1, 'unet'), count, () => {
        const { sample, conditions } = drawNanohole(rng, spec);
        return encodeNanoholeRecord(sample, conditions);
      });
    }
    return writeNanoholeSamples(spec, seed, count ?? 100, o.out as string);
  }
  const spec = buildDamnSpec(o);
  const seed = parseSeed(o);
  if (o.stream) {
    const rng = new Rng(seed);
    return streamRecords(encodeStreamHeader(spec.height, spec.width, spec.scale), count, () =>
      encodeStreamRecord(drawDamnSample(rng, spec)),
    );
  }
  return writeSamples(spec, seed, count ?? 100, o.out as string);
}

async function writeNanoholeSamples(spec: NanoholeSpec, seed: number, count: number, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const rng = new Rng(seed);
  const digits = Math.max(4, String(count - 1).length);
  const n = NANOHOLE.inputSize;
  for (let i = 0; i < count; i++) {
    const { sample: s, conditions, film, dipoles } = drawNanohole(rng, spec);
    const id = String(i).padStart(digits, '0');
    await writeFile(join(dir, `intensity_${id}.npy`), encodeNpy(makeImage(n, n, s.intensity)));
    await writeFile(join(dir, `truth_${id}.npy`), encodeNpy(makeImage(NANOHOLE.mapSize, NANOHOLE.mapSize, Float32Array.from(s.truth))));
    const meta = {
      task: 'unet',
      model: dipoles
        ? 'vector holes (magnetic + electric dipole under x polarisation, angular spectrum)'
        : 'scalar (Kirchhoff apertures, angular spectrum)',
      ...(dipoles ? { dipoles: { ratio: dipoles.ratio, phaseDegrees: (dipoles.phase * 180) / Math.PI } } : {}),
      seed,
      index: i,
      grid: NANOHOLE,
      holes: s.holes.map((h) => [h.x, h.y]),
      radius: s.radius,
      largestCluster: s.largestCluster,
      ...(s.distance !== undefined ? { kind: 'pair', distance: s.distance } : { kind: 'cluster' }),
      ...conditions,
      film: film ? { amplitude: film.amplitude, phaseDegrees: (film.phase * 180) / Math.PI } : 'opaque',
      intensityUnits: conditions.photons > 0 ? 'photons' : 'intensity of a unit plane wave',
    };
    await writeFile(join(dir, `params_${id}.json`), `${JSON.stringify(meta)}\n`);
  }
  process.stderr.write(`rayleigh simulate: wrote ${count} samples to ${dir}\n`);
}

/** header, then records from `next` until `count` (endless when undefined) or the reader goes away */
async function streamRecords(header: Buffer, count: number | undefined, next: () => Buffer): Promise<void> {
  const out = process.stdout;
  let closed = false;
  let wake: (() => void) | null = null;
  const onGone = (): void => {
    closed = true;
    wake?.();
  };
  // EPIPE (reader went away) is the normal way a consumer stops an endless stream.
  out.on('error', onGone);
  out.on('close', onGone);
  const waitDrain = (): Promise<void> =>
    new Promise((resolve) => {
      wake = () => {
        wake = null;
        out.off('drain', onDrain);
        resolve();
      };
      const onDrain = (): void => wake?.();
      out.once('drain', onDrain);
    });

  let ok = out.write(header);
  for (let i = 0; count === undefined || i < count; i++) {
    if (closed) break;
    if (!ok) await waitDrain();
    if (closed) break;
    ok = out.write(next());
    // let 'error'/'close' events through even when the consumer never applies backpressure
    if (ok && i % 16 === 15) await new Promise((r) => setImmediate(r));
  }
  if (!closed) await new Promise<void>((resolve) => (out.writableNeedDrain ? out.once('drain', () => resolve()) : resolve()));
  out.off('error', onGone);
  out.on('error', () => {});
}

async function writeSamples(spec: DamnSampleSpec, seed: number, count: number, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const rng = new Rng(seed);
  const digits = Math.max(4, String(count - 1).length);
  for (let i = 0; i < count; i++) {
    const s = drawDamnSample(rng, spec);
    const id = String(i).padStart(digits, '0');
    await writeFile(join(dir, `frame_${id}.npy`), encodeNpy(s.frame));
    await writeFile(join(dir, `truth_${id}.npy`), encodeNpy(s.truth));
    const meta = {
      task: 'damn',
      seed,
      index: i,
      width: spec.width,
      height: spec.height,
      scale: spec.scale,
      psf: s.params.psf,
      photons: s.params.photons,
      brightness: s.params.brightness,
      camera: s.params.camera,
      backgroundStructure: s.params.structure,
      frameUnits: s.params.camera === 'ideal' ? 'photons' : 'ADU',
      background: s.params.background,
      density: s.params.density,
      emitterCount: s.params.emitterCount,
      emitters: s.emitters,
    };
    await writeFile(join(dir, `params_${id}.json`), `${JSON.stringify(meta)}\n`);
  }
  process.stderr.write(`rayleigh simulate: wrote ${count} samples to ${dir}\n`);
}
