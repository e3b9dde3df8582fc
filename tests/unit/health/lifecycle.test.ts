import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { installShutdownHandlers, runShutdownSteps, type ShutdownStep } from '../../../src/health/lifecycle.ts';

class FakeProcess extends EventEmitter {}

function steps(log: string[], overrides: Partial<Record<string, ShutdownStep['run']>> = {}): ShutdownStep[] {
  return ['drain queue', 'publish stopped', 'flush spool', 'park stage', 'blank DMD'].map((name) => ({
    name,
    timeoutMs: 200,
    run:
      overrides[name] ??
      (async () => {
        log.push(name);
      }),
  }));
}

describe('runShutdownSteps', () => {
  it('runs steps in order and carries on past failures and timeouts', async () => {
    const log: string[] = [];
    const outcomes = await runShutdownSteps(
      steps(log, {
        'flush spool': async () => {
          throw new Error('disk full');
        },
        'park stage': () => new Promise<void>(() => undefined), // hangs forever
      }),
    );
    expect(log).toEqual(['drain queue', 'publish stopped', 'blank DMD']);
    expect(outcomes.map((o) => [o.name, o.status])).toEqual([
      ['drain queue', 'ok'],
      ['publish stopped', 'ok'],
      ['flush spool', 'error'],
      ['park stage', 'timeout'],
      ['blank DMD', 'ok'],
    ]);
    expect(outcomes[2].error).toBe('disk full');
  });

  it('catches synchronous throws too', async () => {
    const [o] = await runShutdownSteps([
      {
        name: 'sync',
        timeoutMs: 100,
        run: () => {
          throw new Error('boom');
        },
      },
    ]);
    expect(o.status).toBe('error');
  });
});

describe('installShutdownHandlers', () => {
  it('SIGTERM → STOPPING=1, ordered steps, exit 0', async () => {
    const proc = new FakeProcess();
    const log: string[] = [];
    const exits: number[] = [];
    const lc = installShutdownHandlers({
      steps: steps(log),
      proc,
      exit: (c) => exits.push(c),
      notifier: { stopping: async (s?: string) => void log.push(`STOPPING ${s}`) },
    });
    proc.emit('SIGTERM', 'SIGTERM');
    const report = await lc.shutdown('ignored: already running');
    await new Promise((r) => setImmediate(r));
    expect(report.reason).toBe('SIGTERM');
    expect(report.ok).toBe(true);
    expect(log).toEqual(['STOPPING stopping: SIGTERM', 'drain queue', 'publish stopped', 'flush spool', 'park stage', 'blank DMD']);
    expect(exits).toEqual([0]);
    lc.uninstall();
    expect(proc.listenerCount('SIGTERM')).toBe(0);
  });

  it('a second signal exits at once while steps are still running', async () => {
    const proc = new FakeProcess();
    const exits: number[] = [];
    let release: () => void = () => undefined;
    const lc = installShutdownHandlers({
      steps: [{ name: 'slow drain', timeoutMs: 10_000, run: () => new Promise<void>((r) => (release = r)) }],
      proc,
      exit: (c) => exits.push(c),
    });
    proc.emit('SIGINT', 'SIGINT');
    await new Promise((r) => setImmediate(r));
    expect(exits).toEqual([]);
    proc.emit('SIGINT', 'SIGINT');
    expect(exits).toEqual([130]);
    release();
    await new Promise((r) => setImmediate(r));
    lc.uninstall();
  });

  it('exits 1 when a step failed', async () => {
    const proc = new FakeProcess();
    const exits: number[] = [];
    installShutdownHandlers({
      steps: [{ name: 'flush', timeoutMs: 100, run: async () => Promise.reject(new Error('nope')) }],
      proc,
      exit: (c) => exits.push(c),
    });
    proc.emit('SIGTERM', 'SIGTERM');
    await expect.poll(() => exits).toEqual([1]);
  });
});
