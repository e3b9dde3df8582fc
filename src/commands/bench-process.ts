/**
 * How a bench child runs: as systemd/rayleigh.service runs the installed daemon — the compiled
 * `dist/cli.js` with the unit's Environment= settings (glibc's malloc arenas among them) — so
 * the peak RSS a bench reports is the deployed daemon's, not a checkout's. Measured here at
 * 1456×1088 in eight paired runs (bench/results/bench-process.json): the TypeScript sources
 * through tsx cost −6 to 73 MB of peak RSS over the build (median 55), and glibc's default arena
 * count 0 to 73 MB over two arenas (median 42).
 *
 * A checkout without a fresh build runs its sources (and says so in the report): a stale
 * `dist/` would bench code that is not the code on disk.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface BenchProcess {
  /** the file node runs: dist/cli.js (built) or bin/rayleigh.mjs (sources through tsx) */
  entry: string;
  code: 'dist' | 'source';
  /** set on top of this process's environment: the unit's, minus the deployment's paths */
  env: Record<string, string>;
  /** why the sources run instead of the build, when they do */
  note?: string;
}

/** What a bench child reports about itself, so a report says what was measured. */
export interface ProcessInfo {
  code: 'dist' | 'source';
  /** the allocator variables in effect (MALLOC_*) */
  malloc: Record<string, string>;
}

/**
 * The variables of a unit's Environment= lines. systemd splits a line on spaces; a double-quoted
 * assignment may contain them. RAYLEIGH_* are the deployment's own paths and stay out: a bench
 * keeps its state in a temporary directory.
 */
export function unitEnvironment(unitText: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of unitText.split('\n')) {
    const m = /^\s*Environment\s*=\s*(.*)$/.exec(raw);
    if (!m) continue;
    for (const tok of m[1].match(/"[^"]*"|\S+/g) ?? []) {
      const a = tok.startsWith('"') ? tok.slice(1, -1) : tok;
      const i = a.indexOf('=');
      if (i <= 0) continue;
      const k = a.slice(0, i);
      if (!k.startsWith('RAYLEIGH_')) env[k] = a.slice(i + 1);
    }
  }
  return env;
}

/** Newest modification time of any file under `dir` (ms), 0 for none. */
function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) t = Math.max(t, statSync(join(e.parentPath, e.name)).mtimeMs);
  }
  return t;
}

/** How to start a bench child from the installation at `root`. */
export function deployedProcess(root: string): BenchProcess {
  const unit = join(root, 'systemd', 'rayleigh.service');
  const env = existsSync(unit) ? unitEnvironment(readFileSync(unit, 'utf8')) : {};
  const dist = join(root, 'dist', 'cli.js');
  const src = join(root, 'src');
  const source = join(root, 'bin', 'rayleigh.mjs');
  if (!existsSync(src)) return { entry: dist, code: 'dist', env };
  if (!existsSync(dist)) return { entry: source, code: 'source', env, note: 'no dist/: `npm run build` benches what the unit runs' };
  if (newestMtime(src) > statSync(dist).mtimeMs) {
    return { entry: source, code: 'source', env, note: 'dist/ is older than src/: `npm run build` benches what the unit runs' };
  }
  return { entry: dist, code: 'dist', env };
}

/** This process, as a child reports it: built or sources, and its allocator settings. */
export function processInfo(moduleUrl: string): ProcessInfo {
  const malloc = Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('MALLOC_') && e[1] !== undefined),
  );
  return { code: moduleUrl.endsWith('.ts') ? 'source' : 'dist', malloc };
}
