import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { deployedProcess, unitEnvironment } from '../../../src/commands/bench-process.ts';

const unitFile = fileURLToPath(new URL('../../../systemd/rayleigh.service', import.meta.url));

describe('bench children run as the unit runs the daemon', () => {
  const roots: string[] = [];
  afterEach(() => {
    for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
  });

  /** An installation: optional src/ and dist/cli.js with the given mtimes (s since epoch). */
  function install(o: { src?: number; dist?: number; unit?: string }): string {
    const root = mkdtempSync(join(tmpdir(), 'rayleigh-benchproc-'));
    roots.push(root);
    mkdirSync(join(root, 'systemd'));
    writeFileSync(join(root, 'systemd', 'rayleigh.service'), o.unit ?? '[Service]\nEnvironment=MALLOC_ARENA_MAX=2\n');
    if (o.src !== undefined) {
      mkdirSync(join(root, 'src', 'pipeline'), { recursive: true });
      const f = join(root, 'src', 'pipeline', 'frame-path.ts');
      writeFileSync(f, '');
      utimesSync(f, o.src, o.src);
    }
    if (o.dist !== undefined) {
      mkdirSync(join(root, 'dist'));
      const f = join(root, 'dist', 'cli.js');
      writeFileSync(f, '');
      utimesSync(f, o.dist, o.dist);
    }
    return root;
  }

  it("takes the shipped unit's environment, without its deployment paths", () => {
    const env = unitEnvironment(readFileSync(unitFile, 'utf8'));
    expect(env.MALLOC_ARENA_MAX).toBe('2');
    expect(env.RAYLEIGH_STATE_DIR).toBeUndefined();
    expect(Object.keys(env)).not.toContain('');
  });

  it('splits Environment= lines as systemd does, quotes included', () => {
    const env = unitEnvironment('[Service]\nEnvironment="A=b c" D=e\n#Environment=X=1\n Environment = F=g=h\nEnvironmentFile=-/etc/x\n');
    expect(env).toEqual({ A: 'b c', D: 'e', F: 'g=h' });
  });

  it('runs the build when it is newer than every source, the sources otherwise', () => {
    const fresh = deployedProcess(install({ src: 1000, dist: 2000 }));
    expect(fresh.code).toBe('dist');
    expect(fresh.entry.endsWith(join('dist', 'cli.js'))).toBe(true);
    expect(fresh.env).toEqual({ MALLOC_ARENA_MAX: '2' });
    expect(fresh.note).toBeUndefined();

    const stale = deployedProcess(install({ src: 3000, dist: 2000 }));
    expect(stale.code).toBe('source');
    expect(stale.entry.endsWith(join('bin', 'rayleigh.mjs'))).toBe(true);
    expect(stale.note).toMatch(/older than src/);

    const unbuilt = deployedProcess(install({ src: 1000 }));
    expect(unbuilt.code).toBe('source');
    expect(unbuilt.note).toMatch(/npm run build/);

    // an installed package has no sources: its build is what runs
    expect(deployedProcess(install({ dist: 2000 })).code).toBe('dist');
  });

  it('runs without extra variables when the unit is absent', () => {
    const root = install({ src: 1000, dist: 2000 });
    rmSync(join(root, 'systemd'), { recursive: true });
    expect(deployedProcess(root).env).toEqual({});
  });
});
