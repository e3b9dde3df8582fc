import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadSettings } from '../config/load.ts';
import { UserError } from '../errors.ts';
import { DAMN_CONDITIONS } from '../eval/conditions.ts';
import { type ConditionResult, DEFAULT_EVAL, evaluateDamn } from '../eval/damn.ts';
import { MANIFEST_FILE, readManifest } from '../inference/manifest.ts';
import { createReconstructor } from '../inference/registry.ts';
import type { Reconstructor } from '../inference/types.ts';
import { createLogger } from '../log.ts';

interface EvalCli {
  task: string;
  json?: boolean;
  models?: string;
  samples: string;
  rlSamples: string;
  oracleTrials: string;
  seed: string;
  conditions?: string;
  writeManifest?: boolean;
  config?: string;
}

/** An integer option ≥ `min` (1 unless said otherwise). */
function intArg(v: string, name: string, min = 1): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UserError(`${name} must be an integer ≥ ${min}, got ${v}`);
  return n;
}

const fmt = (x: number): string => (Number.isFinite(x) ? x.toExponential(2) : 'n/a');

export function formatTable(results: ConditionResult[], engines: string[]): string {
  const lines: string[] = [];
  const head = ['condition', ...engines.flatMap((e) => [`${e} MAE fine`, `${e} MAE cam`, `${e} Jacc`])];
  const withOracle = results.some((r) => r.oracle);
  if (withOracle) head.push('oracle MAE fine', '¼·RL MAE fine');
  lines.push(`| ${head.join(' | ')} |`);
  lines.push(`|${head.map(() => '---').join('|')}|`);
  for (const r of results) {
    const cells = [r.condition.name];
    for (const e of engines) {
      const s = r.engines[e];
      cells.push(s ? fmt(s.maeFine) : '-', s ? fmt(s.maeCamera) : '-', s ? s.jaccard.toFixed(3) : '-');
    }
    if (withOracle) cells.push(r.oracle ? fmt(r.oracle.maeFine) : '-', r.engines.rl ? fmt(r.engines.rl.maeFine / 4) : '-');
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('eval')
    .description('accuracy of the shipped models vs Richardson–Lucy (exact PSF) and the raw frame on fresh simulated test sets')
    .option('--task <task>', 'damn (unet not shipped yet)', 'damn')
    .option('--json', 'machine-readable output')
    .option('--models <ids>', 'comma-separated model ids (default: every damn model in the manifest)')
    .option('--samples <n>', 'test frames per condition', String(DEFAULT_EVAL.samples))
    .option('--rl-samples <n>', 'of those, frames also run through Richardson–Lucy', String(DEFAULT_EVAL.rlSamples))
    .option(
      '--oracle-trials <n>',
      'Monte-Carlo trials per condition of the oracle, an ideal localizer told the PSF, brightness, pixel and every neighbour (0 = skip)',
      String(DEFAULT_EVAL.oracleTrials),
    )
    .option('--seed <n>', 'first test seed (training uses seeds below 1000000)', String(DEFAULT_EVAL.seed))
    .option('--conditions <names>', `subset of ${DAMN_CONDITIONS.map((c) => c.name).join(',')}`)
    .option('--write-manifest', 'record the figures in models-int8/manifest.json')
    .option('--config <file>', 'settings file (inference section)')
    .action(async (o: EvalCli) => {
      if (o.task !== 'damn') throw new UserError(`--task ${o.task}: only "damn" models are shipped so far`);
      const settings = loadSettings(o.config);
      const log = createLogger('warn');
      const manifest = await readManifest(settings.inference.modelsDir);
      const ids = o.models ? o.models.split(',').filter(Boolean) : manifest.models.filter((m) => m.task === 'damn').map((m) => m.id);
      let conditions = DAMN_CONDITIONS;
      if (o.conditions) {
        const want = o.conditions.split(',');
        const unknown = want.filter((w) => !DAMN_CONDITIONS.some((c) => c.name === w));
        if (unknown.length) throw new UserError(`unknown condition(s) ${unknown.join(', ')}`);
        conditions = DAMN_CONDITIONS.filter((c) => want.includes(c.name));
      }
      const models: Reconstructor[] = [];
      try {
        for (const id of ids) models.push(await createReconstructor(id, settings, log, {}));
        const opts = {
          ...DEFAULT_EVAL,
          samples: intArg(o.samples, '--samples'),
          rlSamples: intArg(o.rlSamples, '--rl-samples'),
          seed: intArg(o.seed, '--seed'),
          oracleTrials: intArg(o.oracleTrials, '--oracle-trials', 0),
          conditions,
          onProgress: o.json ? undefined : (m: string) => process.stderr.write(`${m}\n`),
        };
        const results = await evaluateDamn(models, opts);
        const engines = [...ids, 'rl', 'raw'];
        if (o.json) process.stdout.write(`${JSON.stringify({ options: { ...opts, onProgress: undefined }, results }, null, 2)}\n`);
        else {
          process.stdout.write(`${formatTable(results, engines)}\n`);
          for (const id of ids) {
            const ratios = results.map((r) => r.engines[id].maeFine / r.engines.rl.maeFine);
            process.stdout.write(
              `${id}: MAE/RL (fine grid) per condition ${ratios.map((x) => x.toFixed(3)).join(', ')}; worst ${Math.max(...ratios).toFixed(3)}\n`,
            );
          }
          const beyond = results.filter((r) => r.oracle && r.engines.rl && r.oracle.maeFine > r.engines.rl.maeFine / 4);
          if (beyond.length) {
            process.stdout.write(
              `¼·RL is below what an ideal localizer knowing the neighbours reaches in: ${beyond.map((r) => r.condition.name).join(', ')}\n`,
            );
          }
        }
        if (o.writeManifest) {
          const path = join(settings.inference.modelsDir, MANIFEST_FILE);
          const raw = JSON.parse(await readFile(path, 'utf8')) as { models: Array<{ id: string; accuracy?: unknown }> };
          const stamp = new Date().toISOString().slice(0, 10);
          for (const entry of raw.models) {
            if (!ids.includes(entry.id)) continue;
            entry.accuracy = {
              command: `npx rayleigh eval --samples ${opts.samples} --rl-samples ${opts.rlSamples} --oracle-trials ${opts.oracleTrials} --seed ${opts.seed}`,
              measured: stamp,
              frame: `${opts.size}x${opts.size}`,
              metric: 'mean absolute error of unit-sum maps (fine = model grid, cam = camera grid); Jaccard at 0.5 camera px',
              conditions: Object.fromEntries(
                results.map((r) => [
                  r.condition.name,
                  {
                    model: r.engines[entry.id],
                    richardsonLucy: r.engines.rl,
                    raw: { maeFine: r.engines.raw.maeFine, maeCamera: r.engines.raw.maeCamera, jaccard: r.engines.raw.jaccard },
                    maeRatioToRl: r.engines[entry.id].maeFine / r.engines.rl.maeFine,
                    ...(r.oracle ? { oracle: r.oracle } : {}),
                  },
                ]),
              ),
            };
          }
          await writeFile(path, `${JSON.stringify(raw, null, 2)}\n`);
        }
      } finally {
        for (const m of models) await m.close();
      }
    });
}
