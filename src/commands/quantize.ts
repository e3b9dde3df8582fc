/** `rayleigh quantize` — FP32 ONNX + calibration frames → QDQ INT8 ONNX that onnxruntime fuses into QLinearConv. */
import type { Command } from 'commander';
import { UserError } from '../errors.ts';
import type { QuantizeOptions } from '../inference/quantize/index.ts';
import { QUANT_TARGETS, quantizeModelFile, RANGE_METHODS, type RangeMethod, summariseOptimizedGraph } from '../inference/quantize/index.ts';

type QuantizeOptionsTarget = NonNullable<QuantizeOptions['target']>;

interface QuantizeCliOptions {
  model: string;
  calibration: string;
  out: string;
  method: string;
  percentile: string;
  headroom: string;
  multiple: string;
  exclude?: string;
  threads: string;
  target: string;
  merge: boolean;
  task: string;
  rangeSearch: string;
  searchFrames?: string;
  json?: boolean;
}

function number(text: string, name: string): number {
  const v = Number(text);
  if (!Number.isFinite(v)) throw new UserError(`--${name}: expected a number, got "${text}"`);
  return v;
}

function integer(text: string, name: string, min: number, max: number): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < min || v > max) throw new UserError(`--${name}: expected an integer in ${min}..${max}, got "${text}"`);
  return v;
}

export function register(program: Command): void {
  program
    .command('quantize')
    .description('INT8 QDQ model from an FP32 ONNX model and a directory of raw .npy calibration frames')
    .requiredOption('--model <file>', 'FP32 ONNX model (opset ≥ 13)')
    .requiredOption(
      '--calibration <dirs>',
      'directory (or comma-separated directories) of 2-D .npy raw camera frames (see calibration/README.md)',
    )
    .requiredOption('--out <file>', 'where to write the INT8 model')
    .option('--method <m>', `activation range: ${RANGE_METHODS.join(' | ')}`, RANGE_METHODS[0])
    .option('--percentile <p>', 'percentile of activation magnitudes (method percentile)', '99.99')
    .option('--headroom <h>', 'factor the clipping range is widened by', '1.1')
    .option('--multiple <n>', 'pad calibration frames to multiples of this (2^pooling levels)', '8')
    .option('--exclude <names>', 'comma-separated node names to keep in float')
    .option('--threads <n>', 'onnxruntime intra-op threads', '2')
    .option(
      '--target <cpu>',
      `CPU the model is for: auto (this machine) | ${QUANT_TARGETS.join(' | ')}; 8-bit weights on x86-vnni and arm64-dotprod, 7-bit otherwise`,
      'generic',
    )
    .option(
      '--task <task>',
      'input contract of the calibration frames: damn (emitters) or unet (nanoholes, 128×128 intensity_*.npy)',
      'damn',
    )
    .option(
      '--range-search <passes>',
      "passes of the output-aware range search (calibration/README.md): each activation's range scaled while the worst search directory's INT8 error shrinks (0 = off)",
      '0',
    )
    .option(
      '--search-frames <dirs>',
      'with --range-search: the directories it scores on, e.g. simulated frames whose truth it can compare with (default: the calibration directories)',
    )
    .option('--no-merge', 'keep sibling Convs (same input and geometry) separate instead of stacking them')
    .option('--json', 'print the report as JSON')
    .action(async (o: QuantizeCliOptions) => {
      const method = o.method as RangeMethod;
      if (!RANGE_METHODS.includes(method))
        throw new UserError(`--method: expected ${RANGE_METHODS.slice(0, -1).join(', ')} or ${RANGE_METHODS.at(-1)}, got "${o.method}"`);
      if (o.task !== 'damn' && o.task !== 'unet') throw new UserError(`--task: expected damn or unet, got "${o.task}"`);
      const report = await quantizeModelFile({
        task: o.task,
        model: o.model,
        calibration: o.calibration,
        out: o.out,
        method,
        percentile: number(o.percentile, 'percentile'),
        headroom: number(o.headroom, 'headroom'),
        multiple: integer(o.multiple, 'multiple', 1, 256),
        exclude: o.exclude
          ? o.exclude
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : undefined,
        threads: integer(o.threads, 'threads', 1, 64),
        // quantizeModelFile checks the name and says which targets exist
        target: o.target as QuantizeOptionsTarget,
        mergeSiblings: o.merge,
        rangeSearch: integer(o.rangeSearch, 'range-search', 0, 20),
        searchFrames: o.searchFrames,
      });
      const fused = await summariseOptimizedGraph(o.out, 1);
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ ...report, optimized: fused }, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        `wrote ${o.out}: ${report.convs} Conv quantized (${report.removedRelus} ReLU folded), ${report.tensors} activations, ` +
          `${report.frames} calibration frames, method ${report.method}, target ${report.target} (${report.weightBits}-bit weights)\n` +
          report.mergedConvs
            .map((m) => `stacked ${m.merged.join(' + ')} into ${m.name} (gains ${m.gains.map((g) => g.toPrecision(3)).join(', ')})\n`)
            .join('') +
          (report.rangeSearch
            ? `range search: ${report.rangeSearch.scales.size} range(s) rescaled in ${report.rangeSearch.trials} trials, worst directory's ${report.rangeSearch.objective === 'excess-mae' ? 'INT8 MAE / FP32 MAE − 1 (against the truth)' : 'distance to FP32'} ${report.rangeSearch.before.toPrecision(3)} → ${report.rangeSearch.after.toPrecision(3)}\n` +
              report.rangeSearch.directories
                .map((d) => `  ${d.dir} (${d.frames} frames): ${d.before.toPrecision(3)} → ${d.after.toPrecision(3)}\n`)
                .join('')
            : '') +
          `onnxruntime CPU graph: ${fused.qlinearConvs} QLinearConv, ${fused.floatConvs} float Conv\n`,
      );
      // the Convs --exclude asked for run in float by design; warn only about the others
      const unplanned = fused.floatConvs - report.excludedConvs;
      if (unplanned > 0) {
        process.stderr.write(
          `rayleigh: warning: ${unplanned} Conv node(s) not named in --exclude did not fuse into QLinearConv and run in float\n`,
        );
      }
    });
}
