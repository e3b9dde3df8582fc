/** `rayleigh models [--json]` — what the manifest ships, as a table or JSON. */
import type { Command } from 'commander';
import { loadSettings } from '../config/load.ts';
import { type ManifestEntry, readManifest } from '../inference/manifest.ts';

interface ModelsOptions {
  json?: boolean;
  config?: string;
  modelsDir?: string;
}

export interface ModelRow {
  id: string;
  task: string;
  precision: string;
  scale: number;
  input: string;
  sha256: string;
  macsPerPixel: number | null;
  receptiveField: number | null;
  accuracy: Record<string, unknown> | null;
  /** INT8 files: quantization target and weight bits, e.g. "generic 7-bit" */
  quantization: string | null;
  file: string | null;
}

function row(e: ManifestEntry): ModelRow {
  return {
    id: e.id,
    task: e.task,
    precision: e.precision,
    scale: e.output.scale,
    input: `${e.input.name} ${e.input.layout} [N,1,H,W]${e.input.multiple > 1 ? ` H,W%${e.input.multiple}` : ''} ${e.input.normalisation}`,
    sha256: e.sha256,
    macsPerPixel: e.macsPerPixel,
    receptiveField: e.receptiveField,
    accuracy: e.accuracy ?? null,
    quantization: e.quantization ? `${e.quantization.target} ${e.quantization.weightBits}-bit` : null,
    file: e.file,
  };
}

const rlRow: ModelRow = {
  id: 'rl',
  task: 'damn',
  precision: 'fp32',
  scale: 0,
  input: 'any frame (built-in Richardson–Lucy, PSF from inference.rl.psf)',
  sha256: '-',
  macsPerPixel: null,
  receptiveField: null,
  accuracy: null,
  quantization: null,
  file: null,
};

function fmtAccuracy(a: Record<string, unknown> | null): string {
  if (!a) return '-';
  // `rayleigh eval --write-manifest` records per-condition figures; the table shows their range
  const conditions = a.conditions as Record<string, { maeRatioToRl?: number; model?: { jaccard?: number } }> | undefined;
  if (conditions && typeof conditions === 'object') {
    const ratios = Object.values(conditions)
      .map((c) => c.maeRatioToRl)
      .filter((x): x is number => typeof x === 'number');
    const jac = Object.values(conditions)
      .map((c) => c.model?.jaccard)
      .filter((x): x is number => typeof x === 'number');
    const range = (xs: number[], d: number) => `${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)}`;
    return `MAE/RL ${ratios.length ? range(ratios, 2) : '-'}, Jaccard ${jac.length ? range(jac, 2) : '-'} (${Object.keys(conditions).length} conditions, ${String(a.measured ?? '')})`;
  }
  return Object.entries(a)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? Number(v.toPrecision(4)) : JSON.stringify(v)}`)
    .join(' ');
}

export async function listModels(modelsDir: string, rlScale: number): Promise<ModelRow[]> {
  const manifest = await readManifest(modelsDir);
  return [{ ...rlRow, scale: rlScale }, ...manifest.models.map(row)];
}

export function register(program: Command): void {
  program
    .command('models')
    .description('list the models this device can run (models-int8/manifest.json plus the built-in "rl")')
    .option('--json', 'machine-readable output')
    .option('--models-dir <dir>', 'directory holding manifest.json (default: inference.modelsDir)')
    .option('--config <file>', 'settings file')
    .action(async (o: ModelsOptions) => {
      const settings = loadSettings(o.config);
      const rows = await listModels(o.modelsDir ?? settings.inference.modelsDir, settings.inference.rl.scale);
      if (o.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      const table = [
        ['ID', 'TASK', 'PREC', 'SCALE', 'MACS/PX', 'RF', 'SHA256', 'ACCURACY'],
        ...rows.map((r) => [
          r.id,
          r.task,
          r.quantization ? `${r.precision} (${r.quantization})` : r.precision,
          `×${r.scale}`,
          r.macsPerPixel === null ? '-' : String(r.macsPerPixel),
          r.receptiveField === null ? '-' : String(r.receptiveField),
          r.sha256 === '-' ? '-' : r.sha256.slice(0, 12),
          fmtAccuracy(r.accuracy),
        ]),
      ];
      const widths = table[0].map((_, c) => Math.max(...table.map((t) => t[c].length)));
      for (const t of table)
        process.stdout.write(
          `${t
            .map((v, c) => v.padEnd(widths[c]))
            .join('  ')
            .trimEnd()}\n`,
        );
      for (const r of rows) process.stdout.write(`  ${r.id}: input ${r.input}\n`);
    });
}
