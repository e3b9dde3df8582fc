import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { Command } from 'commander';
import { loadSettings } from '../config/load.ts';
import { UserError } from '../errors.ts';
import { createReconstructor } from '../inference/registry.ts';
import type { Reconstructor } from '../inference/types.ts';
import { decodeFitsWithHeader, type FitsCard, isFitsStructural } from '../io/fits.ts';
import { encodeResultFits } from '../io/fits-result.ts';
import { formatFromPath, readImage, writeImage } from '../io/image-file.ts';
import { createLogger } from '../log.ts';
import { holesPayload } from '../mqtt/payloads.ts';

const INPUT_EXT = new Set(['.npy', '.tif', '.tiff', '.png', '.fits', '.fit', '.fts']);
const OUTPUT_FORMATS = ['npy', 'tiff', 'png', 'fits'] as const;
type OutputFormat = (typeof OUTPUT_FORMATS)[number];

interface InferOptions {
  model: string;
  input: string;
  output: string;
  format?: string;
  psf?: string;
  iterations?: string;
  config?: string;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function listInputs(dir: string): string[] {
  const files = readdirSync(dir)
    .filter((f) => INPUT_EXT.has(extname(f).toLowerCase()))
    .sort()
    .map((f) => join(dir, f));
  if (files.length === 0) throw new UserError(`no images (.npy .tif .tiff .png .fits) in ${dir}`);
  return files;
}

export interface InferFailure {
  file: string;
  error: string;
}

export interface InferOutcome {
  written: string[];
  failed: InferFailure[];
}

/**
 * Every input is tried: a bad file is named and skipped, the good ones are all written, and the
 * caller reports the failures at the end (exit non-zero).
 */
export async function runInfer(o: InferOptions): Promise<InferOutcome> {
  const settings = loadSettings(o.config);
  if (o.psf) settings.inference.rl.psf = o.psf;
  if (o.iterations) {
    const n = Number(o.iterations);
    if (!Number.isInteger(n) || n < 1) throw new UserError(`--iterations must be a positive integer, got ${o.iterations}`);
    settings.inference.rl.iterations = n;
  }
  let format: OutputFormat | undefined;
  if (o.format) {
    if (!(OUTPUT_FORMATS as readonly string[]).includes(o.format))
      throw new UserError(`--format must be one of ${OUTPUT_FORMATS.join(', ')}`);
    format = o.format as OutputFormat;
  }
  const inputIsDir = isDir(o.input);
  const inputs = inputIsDir ? listInputs(o.input) : [o.input];
  if (!inputIsDir) {
    try {
      statSync(o.input);
    } catch {
      throw new UserError(`input not found: ${o.input}`);
    }
  }
  const outputIsDir = inputIsDir || isDir(o.output) || o.output.endsWith('/');
  if (outputIsDir) mkdirSync(o.output, { recursive: true });
  else {
    const ext = extname(o.output).toLowerCase().slice(1);
    if (!['npy', 'tif', 'tiff', 'png', 'fits'].includes(ext))
      throw new UserError(`output ${o.output}: extension must be .npy, .tiff, .png or .fits`);
  }

  const log = createLogger(process.env.RAYLEIGH_LOG_LEVEL ?? 'warn');
  const recon = await createReconstructor(o.model, settings, log);
  const written: string[] = [];
  const failed: InferFailure[] = [];
  try {
    for (const [index, file] of inputs.entries()) {
      try {
        const dest = outputIsDir ? join(o.output, `${basename(file, extname(file))}.${format ?? 'npy'}`) : o.output;
        if (extname(dest).toLowerCase() === '.fits') {
          await writeResultFits(recon, settings.pipeline.postprocess, file, dest, index);
          written.push(dest);
          continue;
        }
        const img = await readImage(file);
        if (recon.task === 'unet') {
          // nanohole models: the position map (hole probability, 128² over 2.5λ) and its hole list
          const out = await recon.process({
            image: img,
            fullMap: true,
            postprocess: settings.pipeline.postprocess,
            holes: settings.pipeline.holes,
          });
          if (!out.map || !out.holes) throw new Error('the nanohole engine returned no position map');
          await writeImage(dest, out.map);
          const holesFile = `${dest.slice(0, dest.length - extname(dest).length)}.holes.json`;
          const doc = { input: file, model: recon.id, map: dest, holes: holesPayload(out.holes) };
          await writeFile(holesFile, `${JSON.stringify(doc, null, 2)}\n`);
          written.push(dest, holesFile);
        } else {
          await writeImage(dest, await recon.reconstruct(img));
          written.push(dest);
        }
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        // readers already name the file; preprocessing and the engine do not
        failed.push({ file, error: message.includes(file) ? message : `${file}: ${message}` });
      }
    }
  } finally {
    await recon.close();
  }
  return { written, failed };
}

/**
 * The result for astronomers: the map with the input's FITS keywords carried over and the
 * localisation table (src/io/fits-result.ts). A FITS input's header comes along; other inputs have none.
 */
async function writeResultFits(
  recon: Reconstructor,
  postprocess: Parameters<Reconstructor['process']>[0]['postprocess'],
  file: string,
  dest: string,
  seq: number,
): Promise<void> {
  if (recon.task === 'unet')
    throw new UserError('FITS output holds a localisation table; nanohole (unet) models write .npy/.tiff/.png and <output>.holes.json');
  let image: Awaited<ReturnType<typeof readImage>>;
  let header: FitsCard[] = [];
  if (formatFromPath(file) === 'fits') {
    const d = decodeFitsWithHeader(await readFile(file), file);
    image = d.image;
    header = d.header.cards.filter((c) => !isFitsStructural(c.key));
  } else image = await readImage(file);
  const out = await recon.process({ image, fullMap: true, postprocess });
  if (!out.map) throw new Error('the engine returned no map');
  const fits = encodeResultFits(
    {
      seq,
      timestamp: Date.now(),
      model: { id: recon.id },
      scale: recon.scale,
      output: out.map,
      localizations: out.localizations,
    },
    header,
  );
  try {
    await writeFile(dest, fits);
  } catch (err) {
    throw new UserError(`${dest}: cannot write (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

export function register(program: Command): void {
  program
    .command('infer')
    .description(
      'reconstruct one image or a directory of images with one model session (nanohole/unet models: the position map and <output>.holes.json)',
    )
    .requiredOption('--model <id>', 'model id from `rayleigh models`, or "rl" for Richardson–Lucy')
    .requiredOption('--input <path>', 'image file (.npy .tiff .png .fits) or directory')
    .requiredOption('--output <path>', 'output file (.npy .tiff .png .fits) or directory')
    .option(
      '--format <fmt>',
      'output format for directory output: npy (default), tiff, png, fits (map + LOCALIZATIONS table, FITS input keywords kept)',
    )
    .option('--psf <spec>', 'Richardson–Lucy PSF, e.g. gauss:2 or airy:1.5 (camera px)')
    .option('--iterations <n>', 'Richardson–Lucy iterations')
    .option('--config <file>', 'settings file (inference section)')
    .action(async (o: InferOptions) => {
      const { written, failed } = await runInfer(o);
      if (written.length > 0 || failed.length === 0) {
        process.stdout.write(
          `wrote ${written.length} file${written.length === 1 ? '' : 's'}${written.length === 1 ? `: ${written[0]}` : ` to ${o.output}`}\n`,
        );
      }
      if (failed.length === 1 && written.length === 0) throw new UserError(failed[0].error);
      if (failed.length > 0) {
        for (const f of failed) process.stderr.write(`rayleigh: ${f.error}\n`);
        throw new UserError(`${failed.length} of ${failed.length + written.length} inputs failed (named above)`);
      }
    });
}
