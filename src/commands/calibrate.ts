import type { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { loadSettings } from '../config/load.ts';
import { UserError } from '../errors.ts';
import { FaultRegistry } from '../hardware/faults.ts';
import { type DmdCameraMapping, renderPattern } from '../hardware/patterns.ts';
import { type RegistrationResult, registerDmd } from '../hardware/registration.ts';
import { findPeaks } from '../inference/peaks.ts';
import { type Instrument, openInstrument } from '../instrument.ts';
import { readImage, writeImage } from '../io/image-file.ts';
import { createLogger } from '../log.ts';
import { type Image, makeImage } from '../optics/image.ts';
import { estimateBackground } from '../optics/richardson-lucy.ts';

/**
 * N frames' per-pixel mean and sample standard deviation (ADU). With the light path closed the
 * standard deviation is each pixel's read noise (plus the dark current's shot noise): an sCMOS
 * sensor's map for the fit.
 */
export async function stackFrames(inst: Instrument, n: number): Promise<{ mean: Image; std: Image }> {
  let sum: Float64Array | null = null;
  let sum2: Float64Array | null = null;
  let w = 0;
  let h = 0;
  for (let i = 0; i < n; i++) {
    const f = await inst.source.capture();
    if (!sum || !sum2) {
      w = f.image.width;
      h = f.image.height;
      sum = new Float64Array(w * h);
      sum2 = new Float64Array(w * h);
    } else if (f.image.width !== w || f.image.height !== h) {
      throw new UserError(`camera frame size changed during calibration (${w}x${h} → ${f.image.width}x${f.image.height})`);
    }
    for (let k = 0; k < sum.length; k++) {
      const v = f.image.data[k];
      sum[k] += v;
      sum2[k] += v * v;
    }
  }
  const mean = new Float32Array(w * h);
  const std = new Float32Array(w * h);
  for (let k = 0; k < mean.length; k++) {
    const m = (sum as Float64Array)[k] / n;
    mean[k] = m;
    std[k] = n > 1 ? Math.sqrt(Math.max(0, ((sum2 as Float64Array)[k] - n * m * m) / (n - 1))) : 0;
  }
  return { mean: makeImage(w, h, mean), std: makeImage(w, h, std) };
}

/** Flat field normalised to mean 1 after dark subtraction; refuses a flat with dark or dead pixels. */
export function makeFlat(mean: Image, dark?: Image): Image {
  const out = new Float32Array(mean.data.length);
  let sum = 0;
  for (let i = 0; i < out.length; i++) {
    out[i] = mean.data[i] - (dark ? dark.data[i] : 0);
    sum += out[i];
  }
  const m = sum / out.length;
  if (!(m > 0)) throw new UserError('flat field has no signal above the dark frame: is the illumination on?');
  let bad = 0;
  for (let i = 0; i < out.length; i++) {
    out[i] /= m;
    if (!(out[i] > 0.05)) bad++;
  }
  if (bad > 0) throw new UserError(`flat field has ${bad} pixel(s) below 5% of the mean: uneven or blocked illumination`);
  return makeImage(mean.width, mean.height, out);
}

/** Show a random point mask (unambiguous, unlike a grid), find the spots, fit the affine map. */
export async function calibrateDmd(
  inst: Instrument,
  initial: DmdCameraMapping,
  opts: { spacingPx: number; density: number; seed: number },
): Promise<RegistrationResult> {
  const d = inst.dmd;
  if (!d) throw new UserError('no DMD configured (hardware.dmd)');
  const s = initial.matrix
    ? Math.sqrt(Math.abs(initial.matrix[0] * initial.matrix[3] - initial.matrix[1] * initial.matrix[2]))
    : (initial.scale ?? 1);
  const count = Math.max(6, Math.round((opts.density * inst.camera.width * inst.camera.height) / 2500));
  const mask = renderPattern(
    { kind: 'random', count, minSpacing: opts.spacingPx / s, seed: opts.seed, margin: Math.ceil(2 / s) },
    d.dmd.width,
    d.dmd.height,
  );
  await d.dmd.setLeds(true);
  await d.dmd.showMask(mask);
  try {
    const frame = await inst.source.capture();
    const bg = estimateBackground(frame.image.data);
    const sub = makeImage(
      frame.image.width,
      frame.image.height,
      frame.image.data.map((v) => Math.max(0, v - bg)),
    );
    const spots = findPeaks(sub, 1, { threshold: 0.15, minDistance: 2, window: 2 });
    return registerDmd(mask.points, spots, initial);
  } finally {
    await d.dmd.blank().catch(() => undefined);
  }
}

interface CalOpts {
  config?: string;
  frames: string;
  out?: string;
  dark?: string;
  readNoise?: string;
  spacing: string;
  seed: string;
}

export function register(program: Command): void {
  const cal = program.command('calibrate').description('dark and flat frames; DMD↔camera registration');
  const withInstrument = async <T>(o: CalOpts, fn: (inst: Instrument) => Promise<T>): Promise<T> => {
    const settings = loadSettings(o.config);
    const inst = await openInstrument(settings, createLogger('warn'), new FaultRegistry());
    try {
      return await fn(inst);
    } finally {
      await inst.close();
    }
  };
  const frames = (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 10000) throw new UserError('--frames must be an integer 1..10000');
    return n;
  };
  cal
    .command('dark')
    .description('average N frames with the light path closed → dark frame (.npy) for pipeline.preprocess.dark')
    .requiredOption('--out <file>', 'output .npy')
    .option('--frames <n>', 'frames to average', '32')
    .option(
      '--read-noise <file>',
      "also write each pixel's standard deviation over the frames (ADU rms, .npy) for pipeline.preprocess.readNoise",
    )
    .option('--config <file>', 'settings file (camera section)')
    .action(async (o: CalOpts) => {
      const n = frames(o.frames);
      if (o.readNoise && n < 8)
        throw new UserError('--read-noise needs --frames 8 or more (a standard deviation of fewer is mostly noise)');
      const { mean, std } = await withInstrument(o, (inst) => stackFrames(inst, n));
      await writeImage(o.out as string, mean);
      process.stdout.write(`wrote ${o.out} (${mean.width}x${mean.height}, mean of ${n} frames)\n`);
      if (o.readNoise) {
        await writeImage(o.readNoise, std);
        const sorted = Float32Array.from(std.data).sort();
        const median = sorted[sorted.length >> 1];
        process.stdout.write(`wrote ${o.readNoise} (read noise per pixel, median ${median.toFixed(2)} ADU rms)\n`);
      }
    });
  cal
    .command('flat')
    .description('average N frames of a uniform field → flat field normalised to mean 1 (.npy) for pipeline.preprocess.flat')
    .requiredOption('--out <file>', 'output .npy')
    .option('--frames <n>', 'frames to average', '32')
    .option('--dark <file>', 'dark frame to subtract first')
    .option('--config <file>', 'settings file (camera section)')
    .action(async (o: CalOpts) => {
      const dark = o.dark ? await readImage(o.dark) : undefined;
      const { mean } = await withInstrument(o, (inst) => stackFrames(inst, frames(o.frames)));
      if (dark && (dark.width !== mean.width || dark.height !== mean.height))
        throw new UserError(`dark frame is ${dark.width}x${dark.height}, camera gives ${mean.width}x${mean.height}`);
      const flat = makeFlat(mean, dark);
      await writeImage(o.out as string, flat);
      process.stdout.write(`wrote ${o.out} (${flat.width}x${flat.height})\n`);
    });
  cal
    .command('dmd')
    .description('project random points, find them in the camera image, fit the mirror→camera affine map (hardware.dmd.mapping)')
    .option('--spacing <px>', 'minimum spacing of the points, camera px', '4')
    .option('--seed <n>', 'pattern seed', '7')
    .option('--config <file>', 'settings file (camera, hardware.dmd; its mapping is the initial guess)')
    .action(async (o: CalOpts) => {
      const r = await withInstrument(o, (inst) =>
        calibrateDmd(inst, inst.mapping(), { spacingPx: Number(o.spacing), density: 10, seed: Number(o.seed) }),
      );
      process.stdout.write(
        `matched ${r.matched}/${r.shown} points (${r.detected} spots detected), residual ${r.rmsPx.toFixed(3)} px RMS\n`,
      );
      process.stdout.write(`# paste under hardware.dmd:\n${toYaml({ mapping: r.mapping })}`);
    });
}
