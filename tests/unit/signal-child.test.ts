import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

/**
 * Each case runs in a detached Node process (its own process group), so that a signal sent to
 * "the group" — the bug this guards against, `kill(0, SIGTERM)` — ends that process and not the
 * test runner.
 */
function runIsolated(body: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  const script = `
    import { spawn } from 'node:child_process';
    import { signalChild } from ${JSON.stringify(join(root, 'src', 'signal-child.ts'))};
    import { SystemMonitor } from ${JSON.stringify(join(root, 'src', 'health', 'system.ts'))};
    ${body}
    // a group-wide SIGTERM would have arrived by now
    setTimeout(() => process.exit(0), 300);
  `;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root,
      detached: true,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.on('exit', (code, signal) => resolve({ code, signal, out }));
  });
}

describe('signalChild', () => {
  it('does not signal a child whose spawn failed (pid 0 would mean our own process group)', async () => {
    const r = await runIsolated(`
      // whether Node's pid-0 handle reaches kill(0) varies from spawn to spawn: try many
      const sent = [];
      for (let i = 0; i < 50; i++) {
        const child = spawn('/nonexistent/rayleigh-no-such-binary', [], { stdio: 'ignore' });
        child.on('error', () => {});
        sent.push(signalChild(child, 'SIGTERM'));
      }
      console.log('sent=' + sent.some(Boolean));
    `);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    expect(r.out).toContain('sent=false');
  });

  it('signals a running child and reports it', async () => {
    const r = await runIsolated(`
      const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], { stdio: 'ignore' });
      await new Promise((res) => child.once('spawn', res));
      const sent = signalChild(child, 'SIGTERM');
      const [, sig] = await new Promise((res) => child.once('exit', (...a) => res(a)));
      console.log('sent=' + sent + ' sig=' + sig + ' again=' + signalChild(child, 'SIGTERM'));
    `);
    expect(r.code).toBe(0);
    expect(r.out).toContain('sent=true sig=SIGTERM again=false');
  });

  it('system health stopped right after a missing tegrastats was spawned leaves its process group alone', async () => {
    const r = await runIsolated(`
      const h = new SystemMonitor({ intervalMs: 1000, tegrastats: '/nonexistent/tegrastats', now: () => Date.now() });
      await h.start();
      h.stop();
      console.log('stopped');
    `);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    expect(r.out).toContain('stopped');
  });
});
