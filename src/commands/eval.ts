import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { Command } from 'commander';
import { INSTALL_ROOT } from '../config/install-paths.ts';
import { loadSettings } from '../config/load.ts';
import type { Settings } from '../config/schema.ts';
import { UserError } from '../errors.ts';
import { DAMN_CONDITIONS, type EvalCondition, selectConditions } from '../eval/conditions.ts';
import { type ConditionResult, DEFAULT_EVAL, type EvalOptions, evaluateDamn } from '../eval/damn.ts';
import { DEFAULT_UNET_EVAL, evaluateUnet, formatUnetReport } from '../eval/unet.ts';
import { MANIFEST_FILE, readManifest } from '../inference/manifest.ts';
import { createReconstructor } from '../inference/registry.ts';
import type { Reconstructor } from '../inference/types.ts';
import { createLogger } from '../log.ts';

interface EvalCli {
  task: string;
  json?: boolean;
  models?: string;
  samples: string;
  size: string;
  rlSamples: string;
  oracleTrials: string;
  seed?: string;
  perCluster: string;
  perDistance: string;
  fdtd: string;
  out?: string;
  conditions?: string;
  before?: string;
  beforeModel?: string;
  from?: string;
  baselinesFrom?: string;
  fit?: string;
  writeManifest?: boolean;
  config?: string;
}

/** The committed FDTD test set (training/fdtd/data of the installation). */
const DEFAULT_FDTD_DIR = `${INSTALL_ROOT}/training/fdtd/data`;

/** An integer option ≥ `min` (1 unless said otherwise) and ≤ `max`. */
function intArg(v: string, name: string, min = 1, max = Number.POSITIVE_INFINITY): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UserError(`${name} must be an integer ≥ ${min}${max < Number.POSITIVE_INFINITY ? ` and ≤ ${max}` : ''}, got ${v}`);
  }
  return n;
}

/** Largest --size: a 4096² test frame is a big sensor's; larger would only exhaust memory (the 4× truth map) */
const MAX_EVAL_SIZE = 4096;

function fitArg(v: string | undefined): 'gauss' | 'none' {
  if (v === undefined || v === 'gauss' || v === 'none') return v ?? 'gauss';
  throw new UserError(`--fit ${v}: must be gauss or none`);
}

const fmt = (x: number): string => (Number.isFinite(x) ? x.toExponential(2) : 'n/a');
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
const f3 = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');

/** Every engine's figures per condition (the command's plain output). */
export function formatTable(results: ConditionResult[], engines: string[]): string {
  const lines: string[] = [];
  const head = ['condition', ...engines.flatMap((e) => [`${e} MAE fine`, `${e} MAE cam`, `${e} Jacc`, `${e} RMSE px`, `${e} RMSE/CRLB`])];
  const withOracle = results.some((r) => r.oracle);
  if (withOracle) head.push('oracle MAE fine', '¼·RL MAE fine');
  lines.push(`| ${head.join(' | ')} |`);
  lines.push(`|${head.map(() => '---').join('|')}|`);
  for (const r of results) {
    const cells = [r.condition.name];
    for (const e of engines) {
      const s = r.engines[e];
      if (!s) cells.push('-', '-', '-', '-', '-');
      else cells.push(fmt(s.maeFine), fmt(s.maeCamera), s.jaccard.toFixed(3), f3(s.rmse), f2(s.rmseOverCrlb));
    }
    if (withOracle) cells.push(r.oracle ? fmt(r.oracle.maeFine) : '-', r.engines.rl ? fmt(r.engines.rl.maeFine / 4) : '-');
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** a previous run's JSON (the "before" column), by condition name */
export type BeforeTable = Map<string, ConditionResult>;

export function parseResultsJson(text: string, name: string): ConditionResult[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${name}: not JSON (${(e as Error).message})`);
  }
  const results = (raw as { results?: unknown }).results;
  if (!Array.isArray(results)) throw new UserError(`${name}: no "results" array (expected the output of rayleigh eval --json)`);
  return results as ConditionResult[];
}

/**
 * RL and oracle figures of a saved run, usable only when that run drew the same test frames and
 * trials: same seed, frame size, scale, samples, RL samples and iterations, oracle trials, and
 * the same definition of every condition asked for now.
 */
export function baselinesFromJson(
  text: string,
  name: string,
  now: Pick<EvalOptions, 'seed' | 'size' | 'scale' | 'samples' | 'rlSamples' | 'rlIterations' | 'oracleTrials'> & {
    conditions: readonly EvalCondition[];
  },
): Map<string, ConditionResult> {
  const results = parseResultsJson(text, name);
  const saved = (JSON.parse(text) as { options?: Record<string, unknown> }).options;
  if (!saved) throw new UserError(`${name}: no "options" (re-run rayleigh eval --json to record them)`);
  for (const k of ['seed', 'size', 'scale', 'samples', 'rlSamples', 'rlIterations', 'oracleTrials'] as const) {
    if (saved[k] !== now[k]) {
      throw new UserError(`${name}: was run with ${k} ${String(saved[k])}, this run has ${now[k]}: its RL and oracle figures do not apply`);
    }
  }
  const byName = new Map(results.map((r) => [r.condition.name, r]));
  for (const c of now.conditions) {
    const r = byName.get(c.name);
    if (!r?.engines.rl) throw new UserError(`${name}: has no Richardson–Lucy figures for condition "${c.name}"`);
    if (JSON.stringify(r.condition) !== JSON.stringify(c)) {
      throw new UserError(`${name}: condition "${c.name}" is defined differently there: its figures do not apply`);
    }
  }
  return byName;
}

async function readBaselines(path: string, now: Parameters<typeof baselinesFromJson>[2]): Promise<Map<string, ConditionResult>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new UserError(`cannot read ${path}: ${(e as Error).message}`);
  }
  return baselinesFromJson(text, path, now);
}

/**
 * The README table: the network (INT8, FP32) against Richardson–Lucy, the raw frame and the
 * oracle; Jaccard; localisation RMSE and RMSE/CRLB of isolated emitters; and, where a previous
 * run has the condition, its INT8 figures as the "before" column.
 */
export function formatSummary(
  results: ConditionResult[],
  int8: string,
  fp32: string | null,
  before?: BeforeTable,
  beforeModel = int8,
): string {
  const head = [
    'condition',
    'INT8 fine',
    'FP32 fine',
    'RL fine',
    'raw fine',
    'oracle fine',
    'INT8/oracle',
    'INT8/RL fine',
    'INT8 cam',
    'RL cam',
    'raw cam',
    'INT8/RL cam',
    'Jaccard INT8 / FP32 / RL / raw',
    'RMSE px INT8 / RL',
    'isolated: n, RMSE px, CRLB px, RMSE/CRLB (map centroids → fit), std(error/σ) (INT8)',
  ];
  if (before) head.push(beforeModel === int8 ? 'before: INT8 fine / cam / Jaccard' : `${beforeModel}: INT8 fine / cam / Jaccard`);
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of results) {
    const e = r.engines;
    const m = e[int8];
    const f = fp32 ? e[fp32] : undefined;
    const c = [
      r.condition.name,
      fmt(m?.maeFine ?? Number.NaN),
      fmt(f?.maeFine ?? Number.NaN),
      fmt(e.rl?.maeFine ?? Number.NaN),
      fmt(e.raw?.maeFine ?? Number.NaN),
      r.oracle ? fmt(r.oracle.maeFine) : '-',
      r.oracle && m ? f2(m.maeFine / r.oracle.maeFine) : '-',
      m && e.rl ? f2(m.maeFine / e.rl.maeFine) : '-',
      fmt(m?.maeCamera ?? Number.NaN),
      fmt(e.rl?.maeCamera ?? Number.NaN),
      fmt(e.raw?.maeCamera ?? Number.NaN),
      m && e.rl ? f2(m.maeCamera / e.rl.maeCamera) : '-',
      [m, f, e.rl, e.raw].map((x) => (x ? x.jaccard.toFixed(2) : '-')).join(' / '),
      `${f3(m?.rmse ?? Number.NaN)} / ${f3(e.rl?.rmse ?? Number.NaN)}`,
      m && m.isolatedMatched > 0
        ? `${m.isolatedMatched}, ${f3(m.isolatedRmse)}, ${f3(m.crlb)}, ${m.rmseOverCrlbMap !== undefined ? `${f2(m.rmseOverCrlbMap)} → ` : ''}${f2(m.rmseOverCrlb)}${m.zStd !== undefined ? `, ${f2(m.zStd)}` : ''}`
        : '-',
    ];
    if (before) {
      const b = before.get(r.condition.name)?.engines[beforeModel];
      c.push(b ? `${fmt(b.maeFine)} / ${fmt(b.maeCamera)} / ${b.jaccard.toFixed(2)}` : '-');
    }
    lines.push(`| ${c.join(' | ')} |`);
  }
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('eval')
    .description('accuracy of the shipped models vs Richardson–Lucy (exact PSF) and the raw frame on fresh simulated test sets')
    .option('--task <task>', 'damn (emitter models) or unet (nanohole models)', 'damn')
    .option('--json', 'machine-readable output (one JSON object)')
    .option('--models <ids>', "comma-separated model ids (default: every model of the task's in the manifest)")
    .option('--samples <n>', 'test frames per condition', String(DEFAULT_EVAL.samples))
    .option(
      '--size <px>',
      'damn: edge of the square test frames (a sensor-size check: 512 with --rl-samples 0 --oracle-trials 0)',
      String(DEFAULT_EVAL.size),
    )
    .option('--rl-samples <n>', 'of those, frames also run through Richardson–Lucy', String(DEFAULT_EVAL.rlSamples))
    .option(
      '--oracle-trials <n>',
      'Monte-Carlo trials per condition of the oracle, an ideal localizer told the PSF, brightness, pixel and every neighbour (0 = skip)',
      String(DEFAULT_EVAL.oracleTrials),
    )
    .option(
      '--seed <n>',
      `first test seed (damn: default ${DEFAULT_EVAL.seed}, training uses seeds below it; unet: default ${DEFAULT_UNET_EVAL.seed})`,
    )
    .option(
      '--per-cluster <n>',
      'unet: scalar test samples per largest sub-Rayleigh cluster size 2..10',
      String(DEFAULT_UNET_EVAL.perCluster),
    )
    .option('--per-distance <n>', 'unet: scalar test samples per two-hole distance', String(DEFAULT_UNET_EVAL.perDistance))
    .option('--fdtd <dir>', 'unet: the FDTD test set (samples.json + intensity.npy.gz)', DEFAULT_FDTD_DIR)
    .option('--out <file>', 'unet: also write the Markdown tables here and the JSON next to it (.json)')
    .option(
      '--conditions <names>',
      `comma list of conditions or groups (equal, spread, realism, isolated, all; default all): ${DAMN_CONDITIONS.map((c) => c.name).join(',')}`,
    )
    .option('--before <json>', 'a previous `eval --json` output: its INT8 figures become the "before" column of the summary table')
    .option('--before-model <id>', 'with --before: the model of that run to compare with (default: the same id)')
    .option('--from <json>', 'do not evaluate: print the tables of a saved `eval --json` output')
    .option(
      '--baselines-from <json>',
      'reuse Richardson–Lucy and oracle figures of a saved `eval --json` run with the same seed, samples and trials (they do not depend on the models)',
    )
    .option('--fit <kind>', 'localisations: gauss (refined by the frame fit, as the daemon does) or none (map centroids)', 'gauss')
    .option('--write-manifest', 'record the figures in models-int8/manifest.json')
    .option('--config <file>', 'settings file (inference section)')
    .action(async (o: EvalCli) => {
      if (o.task === 'unet') return evalUnet(o);
      if (o.task !== 'damn') throw new UserError(`--task ${o.task}: must be damn or unet`);
      const readJson = async (path: string): Promise<ConditionResult[]> => {
        let text: string;
        try {
          text = await readFile(path, 'utf8');
        } catch (e) {
          throw new UserError(`cannot read ${path}: ${(e as Error).message}`);
        }
        return parseResultsJson(text, path);
      };
      const before = o.before ? new Map((await readJson(o.before)).map((r) => [r.condition.name, r])) : undefined;
      if (o.from) {
        const saved = await readJson(o.from);
        const names = Object.keys(saved[0]?.engines ?? {}).filter((k) => k !== 'rl' && k !== 'raw');
        const int8 = names.find((n) => !n.endsWith('fp32')) ?? names[0];
        const fp32 = names.find((n) => n.endsWith('fp32')) ?? null;
        process.stdout.write(`${formatSummary(saved, int8, fp32, before, o.beforeModel)}\n`);
        return;
      }
      const settings = loadSettings(o.config);
      const log = createLogger('warn');
      const manifest = await readManifest(settings.inference.modelsDir);
      const ids = o.models ? o.models.split(',').filter(Boolean) : manifest.models.filter((m) => m.task === 'damn').map((m) => m.id);
      let conditions = DAMN_CONDITIONS;
      if (o.conditions) {
        try {
          conditions = selectConditions(o.conditions);
        } catch (e) {
          throw new UserError((e as Error).message);
        }
      }
      const models: Reconstructor[] = [];
      try {
        for (const id of ids) models.push(await createReconstructor(id, settings, log, {}));
        const opts = {
          ...DEFAULT_EVAL,
          samples: intArg(o.samples, '--samples'),
          size: intArg(o.size, '--size', 16, MAX_EVAL_SIZE),
          rlSamples: intArg(o.rlSamples, '--rl-samples', 0),
          seed: intArg(o.seed ?? String(DEFAULT_EVAL.seed), '--seed'),
          oracleTrials: intArg(o.oracleTrials, '--oracle-trials', 0),
          fit: fitArg(o.fit),
          conditions,
          onProgress: o.json ? undefined : (m: string) => process.stderr.write(`${m}\n`),
        };
        const baselines = o.baselinesFrom ? await readBaselines(o.baselinesFrom, opts) : undefined;
        const results = await evaluateDamn(models, { ...opts, baselines });
        const engines = [...ids, 'rl', 'raw'];
        if (o.json) process.stdout.write(`${JSON.stringify({ options: { ...opts, onProgress: undefined }, results }, null, 2)}\n`);
        else {
          process.stdout.write(`${formatTable(results, engines)}\n\n`);
          const int8 = ids.find((i) => !i.endsWith('fp32'));
          if (int8) {
            const fp32 = ids.find((i) => i.endsWith('fp32')) ?? null;
            process.stdout.write(`${formatSummary(results, int8, fp32, before, o.beforeModel)}\n\n`);
          }
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
              command: `npx rayleigh eval --fit ${opts.fit}${opts.size !== DEFAULT_EVAL.size ? ` --size ${opts.size}` : ''} --samples ${opts.samples} --rl-samples ${opts.rlSamples} --oracle-trials ${opts.oracleTrials} --seed ${opts.seed}${o.baselinesFrom ? ` --baselines-from ${o.baselinesFrom}` : ''}`,
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

/** Each evaluated model's figures into its manifest entry's `accuracy` (scalar set; FDTD when evaluated). */
async function recordUnetAccuracy(path: string, r: Awaited<ReturnType<typeof evaluateUnet>>, command: string): Promise<void> {
  const raw = JSON.parse(await readFile(path, 'utf8')) as { models: Array<{ id: string; accuracy?: unknown }> };
  const per = (g: Record<string, { pearson: number }> | undefined) =>
    Object.fromEntries(Object.entries(g ?? {}).map(([k, v]) => [k, v.pearson]));
  for (const entry of raw.models) {
    if (!r.engines.includes(entry.id)) continue;
    const id = entry.id;
    entry.accuracy = {
      command,
      measured: new Date().toISOString().slice(0, 10),
      metric:
        'mean Pearson correlation of the position map with the binary truth map; counting accuracy and centre RMSE (λ) after src/inference/holes.ts',
      scalar: {
        simulator: r.simulator,
        samples: r.scalar.samples,
        pearsonByCluster: per(r.scalar.byCluster[id]),
        pearsonByDistance: per(r.scalar.byDistance[id]),
        twoBlobsByDistance: Object.fromEntries(Object.entries(r.scalar.byDistance[id] ?? {}).map(([k, v]) => [k, v.separated])),
        countAccuracy: r.scalar.clusters[id]?.countAccuracy,
        centreRmse: r.scalar.clusters[id]?.rmse,
      },
      fdtd: r.fdtd
        ? {
            source: r.fdtd.source,
            samples: r.fdtd.samples,
            pearsonByCluster: per(r.fdtd.byCluster[id]),
            pearsonByDistance: per(r.fdtd.byDistance[id]),
            countAccuracy: r.fdtd.clusters[id]?.countAccuracy,
            centreRmse: r.fdtd.clusters[id]?.rmse,
          }
        : null,
      published: r.published,
    };
  }
  await writeFile(path, `${JSON.stringify(raw, null, 2)}\n`);
}

/** The command line that reproduces a unet evaluation (written into its results). */
function unetCommand(o: EvalCli): string {
  const parts = ['npx rayleigh eval --task unet'];
  // the settings file says which models directory the ids came from
  if (o.config) parts.push(`--config ${o.config}`);
  if (o.models) parts.push(`--models ${o.models}`);
  parts.push(`--per-cluster ${o.perCluster}`, `--per-distance ${o.perDistance}`, `--seed ${o.seed ?? DEFAULT_UNET_EVAL.seed}`);
  if (o.fdtd !== DEFAULT_FDTD_DIR) parts.push(`--fdtd ${o.fdtd}`);
  if (o.out) parts.push(`--out ${o.out}`);
  if (o.writeManifest) parts.push('--write-manifest');
  return parts.join(' ');
}

async function evalUnet(o: EvalCli): Promise<void> {
  const settings: Settings = loadSettings(o.config);
  const log = createLogger('warn');
  const manifest = await readManifest(settings.inference.modelsDir);
  const unet = manifest.models.filter((m) => m.task === 'unet');
  const ids = o.models ? o.models.split(',').filter(Boolean) : unet.map((m) => m.id);
  if (ids.length === 0)
    throw new UserError(`no unet models in ${join(settings.inference.modelsDir, MANIFEST_FILE)} (name them with --models)`);
  for (const id of ids) {
    const m = manifest.models.find((e) => e.id === id);
    if (m && m.task !== 'unet') throw new UserError(`model "${id}" is a ${m.task} model, not a nanohole (unet) model`);
  }
  const precision = (id: string) => manifest.models.find((m) => m.id === id)?.precision;
  const int8 = ids.find((id) => precision(id) === 'int8') ?? ids[0];
  const fp32 = ids.find((id) => id !== int8 && precision(id) === 'fp32') ?? null;
  const opts = {
    perCluster: intArg(o.perCluster, '--per-cluster'),
    perDistance: intArg(o.perDistance, '--per-distance'),
    seed: intArg(o.seed ?? String(DEFAULT_UNET_EVAL.seed), '--seed'),
    fdtdDir: o.fdtd,
    // results name the committed set by its path in the repository, not on this machine
    fdtdLabel: relative(INSTALL_ROOT, o.fdtd).startsWith('..') ? o.fdtd : relative(INSTALL_ROOT, o.fdtd),
    holes: settings.pipeline.holes,
    onProgress: (m: string) => process.stderr.write(`${m}\n`),
  };
  const models: Reconstructor[] = [];
  try {
    for (const id of ids) models.push(await createReconstructor(id, settings, log, {}));
    const report = await evaluateUnet(models, { int8, fp32 }, opts);
    const command = unetCommand(o);
    const md = formatUnetReport(report, command);
    const json = `${JSON.stringify({ command, ...report }, null, 2)}\n`;
    if (o.writeManifest) await recordUnetAccuracy(join(settings.inference.modelsDir, MANIFEST_FILE), report, command);
    if (o.out) {
      await mkdir(dirname(o.out), { recursive: true });
      await writeFile(o.out, md);
      await writeFile(`${o.out.replace(/\.md$/, '')}.json`, json);
    }
    process.stdout.write(o.json ? json : md);
  } finally {
    for (const m of models) await m.close();
  }
}
