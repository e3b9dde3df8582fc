import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandNames } from '../../src/mqtt/payloads.ts';
import { type Rig, startRig } from './harness.ts';

/** 10 000 hostile or clumsy requests; every one is answered (or, retained/empty, dropped on purpose). */
describe('command fuzzing against real drivers on simulated devices', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig({ timeoutMs: 2000 });
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('answers every one of 10 000 fuzzed requests without a crash and keeps serving', async () => {
    let seed = 20261201;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
    const names = [...commandNames, 'nope', 'x'.repeat(300), 'ünï', 'response', '%00', '__proto__', 'constructor'];
    const scalars = [null, true, false, -1, 0, 1, 2.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER, 'str', '', '__proto__', [], {}];
    const value = (depth = 0): unknown => {
      const r = rnd();
      if (depth < 3 && r < 0.15)
        return Object.fromEntries([[pick(['a', 'x', '__proto__', 'constructor', 'pipeline', 'mqtt']), value(depth + 1)]]);
      if (depth < 3 && r < 0.2) return [value(depth + 1), value(depth + 1)];
      return pick(scalars);
    };
    const keys = [
      'count',
      'axes',
      'pattern',
      'model',
      'patch',
      'persist',
      'delayMs',
      'transaction',
      'kind',
      'stream',
      'relative',
      'patterns',
    ];
    const payload = (): string | Buffer => {
      switch (Math.floor(rnd() * 9)) {
        case 0:
          return Buffer.from(Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256)));
        case 1:
          return '{"count":';
        case 2:
          return JSON.stringify(value());
        case 3: {
          const o: Record<string, unknown> = {};
          for (const k of keys) if (rnd() < 0.3) o[k] = value();
          return JSON.stringify(o);
        }
        case 4:
          return JSON.stringify({
            pattern: {
              kind: pick(['grid', 'dots', 'random', 'pairs', 'blank', 'spiral']),
              pitch: value(),
              count: value(),
              radius: value(),
            },
          });
        case 5:
          return JSON.stringify({
            patch: { [pick(['camera', 'mqtt', 'web', 'stateDir', 'pipeline', '__proto__'])]: value() },
            persist: rnd() < 0.5,
          });
        case 6:
          return `{"transaction":"t","axes":{"${pick(['x', 'y', '__proto__'])}":${pick(['1', '-5', '1e999', '"a"'])}}}`;
        case 7:
          return 'x'.repeat(Math.floor(rnd() * 70_000));
        default:
          return rnd() < 0.5 ? '' : '   ';
      }
    };
    const N = 10_000;
    let retained = 0;
    for (let i = 0; i < N; i++) {
      const retain = rnd() < 0.02;
      if (retain) retained++;
      rig.observer.publish(`rayleigh/chaos/cmd/${pick(names)}`, payload(), { qos: 1, retain });
      if (i % 500 === 499) await new Promise((r) => setTimeout(r, 10));
    }
    const answered = (): number => {
      const s = rig.server.stats();
      return s.ok + s.errors;
    };
    await expect.poll(() => answered() + rig.server.stats().ignored, { timeout: 60_000, interval: 100 }).toBe(N);
    const s = rig.server.stats();
    expect(s.received).toBe(N);
    expect(s.ignored).toBeGreaterThanOrEqual(retained);
    expect(s.ok + s.errors + s.ignored).toBe(N);
    // and every answer reached the requester
    await expect.poll(() => rig.received().length, { timeout: 30_000 }).toBe(s.ok + s.errors);
    for (const a of rig.received()) expect(['ok', 'error']).toContain(a.status);
    // no retained command was left behind to run on the next boot: each was dropped unanswered,
    // so clearing them is our job here (the daemon never answers or re-runs them)
    for (const n of names) rig.observer.publish(`rayleigh/chaos/cmd/${n}`, '', { qos: 1, retain: true });
    // still serving, in order
    if (s.estopped) expect((await rig.ask('estop_reset')).status).toBe('ok');
    expect((await rig.ask('get_config')).status).toBe('ok');
    const home = await rig.ask('stage_home');
    expect(home.status, home.error).toBe('ok');
  });
});
