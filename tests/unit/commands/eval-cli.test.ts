import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..', '..');
const cli = (args: string[]) =>
  spawnSync(process.execPath, [join(root, 'bin', 'rayleigh.mjs'), ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });

describe('rayleigh eval (CLI)', () => {
  it('refuses a test-frame size it cannot hold, or no number, with one clear line and nothing evaluated', () => {
    for (const size of ['100000', '8', 'abc']) {
      const r = cli(['eval', '--size', size, '--samples', '1', '--conditions', 'sparse']);
      expect(r.status).not.toBe(0);
      const lines = r.stderr
        .trim()
        .split('\n')
        .filter((l) => !l.startsWith('npm warn'));
      expect(lines).toEqual([`rayleigh: --size must be an integer ≥ 16 and ≤ 4096, got ${size}`]);
      expect(r.stdout).toBe('');
    }
  });
});
