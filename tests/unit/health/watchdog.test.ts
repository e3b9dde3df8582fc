import { afterEach, describe, expect, it, vi } from 'vitest';
import { Watchdog, type WatchdogProgress } from '../../../src/health/watchdog.ts';

function harness(stallSeconds = 30) {
  let t = 0;
  const progress: WatchdogProgress = { framesOut: 0, streaming: true };
  const sent: string[] = [];
  const notifier = {
    watchdog: async () => {
      sent.push('WATCHDOG=1');
    },
    status: async (s: string) => {
      sent.push(`STATUS=${s}`);
    },
  };
  const wd = new Watchdog({ notifier, progress: () => ({ ...progress }), stallSeconds, intervalMs: 15_000, now: () => t });
  return {
    wd,
    progress,
    sent,
    advance(ms: number) {
      t += ms;
    },
    pets: () => sent.filter((m) => m === 'WATCHDOG=1').length,
  };
}

describe('Watchdog', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('pets while frames complete, stops after stallSeconds without one, resumes on progress', () => {
    const h = harness(30);
    for (let i = 0; i < 4; i++) {
      h.progress.framesOut += 10;
      h.advance(15_000);
      expect(h.wd.tick()).toBe('pet');
    }
    expect(h.pets()).toBe(4);

    // pipeline wedges: no frame for 15 s is still fine, 30 s is a stall
    h.advance(15_000);
    expect(h.wd.tick()).toBe('pet');
    h.advance(15_000);
    expect(h.wd.tick()).toBe('stalled');
    h.advance(15_000);
    expect(h.wd.tick()).toBe('stalled');
    expect(h.wd.stalled).toBe(true);
    expect(h.pets()).toBe(5);
    expect(h.sent.filter((m) => m.startsWith('STATUS=stalled'))).toHaveLength(1);

    h.progress.framesOut += 1;
    h.advance(1000);
    expect(h.wd.tick()).toBe('pet');
    expect(h.wd.stalled).toBe(false);
    expect(h.pets()).toBe(6);
    expect(h.sent).toContain('STATUS=running');
  });

  it('keeps petting on loop liveness while streaming is stopped by command, with grace after restart', () => {
    const h = harness(30);
    h.progress.streaming = false;
    for (let i = 0; i < 10; i++) {
      h.advance(15_000);
      expect(h.wd.tick()).toBe('pet');
    }
    // streaming restarted: the first frame may take a while, but not forever
    h.progress.streaming = true;
    h.advance(1000);
    expect(h.wd.tick()).toBe('pet');
    h.advance(20_000);
    expect(h.wd.tick()).toBe('pet');
    h.advance(15_000);
    expect(h.wd.tick()).toBe('stalled');
  });

  it('gives a slow engine (sensor-sized frames on a small board) three frame times before calling it wedged', () => {
    const h = harness(30);
    h.progress.frameMs = 40_000;
    h.wd.tick();
    h.advance(90_000);
    expect(h.wd.tick()).toBe('pet');
    h.advance(31_000);
    expect(h.wd.tick()).toBe('stalled');
    h.progress.frameMs = undefined;
    h.progress.framesOut++;
    h.advance(1000);
    expect(h.wd.tick()).toBe('pet');
    h.advance(30_000);
    expect(h.wd.tick()).toBe('stalled');
  });

  it('treats a throwing progress probe as a stall', () => {
    const sent: string[] = [];
    const wd = new Watchdog({
      notifier: { watchdog: async () => void sent.push('W'), status: async () => undefined },
      progress: () => {
        throw new Error('controller gone');
      },
      stallSeconds: 5,
      intervalMs: null,
    });
    expect(wd.tick()).toBe('stalled');
    expect(sent).toEqual([]);
  });

  it('runs on its timer at the given interval', () => {
    vi.useFakeTimers();
    const h = harness(30);
    const wd = new Watchdog({
      notifier: { watchdog: async () => void h.sent.push('WATCHDOG=1'), status: async () => undefined },
      progress: () => ({ framesOut: Date.now(), streaming: true }),
      stallSeconds: 30,
      intervalMs: 10_000,
    });
    wd.start();
    vi.advanceTimersByTime(35_000);
    wd.stop();
    vi.advanceTimersByTime(60_000);
    // one immediate pet plus three timer ticks, none after stop()
    expect(h.pets()).toBe(4);
  });

  it('rejects a non-positive stall threshold', () => {
    expect(
      () =>
        new Watchdog({
          notifier: { watchdog: async () => undefined, status: async () => undefined },
          progress: () => ({ framesOut: 0, streaming: true }),
          stallSeconds: 0,
          intervalMs: null,
        }),
    ).toThrow(/stallSeconds/);
  });
});
