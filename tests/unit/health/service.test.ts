import { describe, expect, it } from 'vitest';
import { parseSettings } from '../../../src/config/load.ts';
import type { HealthPayload } from '../../../src/health/metrics.ts';
import { startHealth } from '../../../src/health/service.ts';
import type { Notifier } from '../../../src/health/systemd-notify.ts';
import { listToColumns } from '../../../src/inference/peaks.ts';
import { silentLogger } from '../../../src/log.ts';

function recordingNotifier(sent: string[]): Notifier {
  const send = async (a: Record<string, string>) => {
    sent.push(
      Object.entries(a)
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
    );
  };
  return {
    enabled: true,
    send,
    ready: (s) => send({ READY: '1', STATUS: s ?? '' }),
    watchdog: () => send({ WATCHDOG: '1' }),
    stopping: () => send({ STOPPING: '1' }),
    status: (s) => send({ STATUS: s }),
  };
}

describe('startHealth', () => {
  it('wires metrics, periodic health, READY + watchdog', async () => {
    const settings = parseSettings({ device: { id: 'svc01' }, health: { interval: 0.05 }, web: { port: 0 }, systemd: { stallSeconds: 5 } });
    const sent: string[] = [];
    const published: HealthPayload[] = [];
    let framesOut = 0;
    const h = await startHealth({
      settings,
      log: silentLogger,
      progress: () => ({ framesOut: ++framesOut, streaming: true }),
      pipeline: () => ({
        framesIn: 3,
        framesOut: 1,
        dropped: 1,
        errors: 0,
        queueDepth: 2,
        sustainableFps: 2,
        imagesSkipped: 0,
        outOfRange: 0,
      }),
      publishHealth: (p) => published.push(p),
      env: { WATCHDOG_USEC: '100000', NOTIFY_SOCKET: '/unused' },
      notifier: recordingNotifier(sent),
      sysRoot: '/nonexistent',
    });
    try {
      expect(h.watchdog).not.toBeNull();
      await h.ready('serving');
      expect(sent[0]).toBe('READY=1 STATUS=serving');
      h.sink.publish({
        stream: 'main',
        seq: 1,
        timestamp: 0,
        source: 'sim',
        model: { id: 'm', fingerprint: 'f', provider: 'cpu' },
        input: { width: 4, height: 4 },
        sensor: { x: 0, y: 0, binning: 1 },
        output: { width: 8, height: 8 },
        scale: 2,
        localizations: listToColumns([]),
        timings: { queue: 1, preprocess: 1, reconstruct: 1, postprocess: 1, encode: 0, total: 4 },
        dropped: 0,
        tiles: 1,
        overhead: 1,
      });
      await expect.poll(() => published.length).toBeGreaterThan(2);
      await expect.poll(() => sent.filter((s) => s === 'WATCHDOG=1').length).toBeGreaterThan(1);
      const last = published.at(-1)!;
      expect(last.deviceId).toBe('svc01');
      expect(last.frames.out).toBe(1);
      expect(last.frames.dropped).toBe(1);
      expect(last.queueDepth).toBe(2);
      expect(last.model?.id).toBe('m');
      expect(h.metrics.snapshot().deviceId).toBe('svc01');
      expect(sent.some((s) => /^STATUS=streaming .* fps, model m$/.test(s))).toBe(true);
    } finally {
      await h.stop();
    }
    const count = sent.length;
    await new Promise((r) => setTimeout(r, 150));
    expect(sent.length).toBe(count);
  });

  it('runs without a watchdog outside systemd', async () => {
    const h = await startHealth({
      settings: parseSettings({}),
      log: silentLogger,
      progress: () => ({ framesOut: 0, streaming: false }),
      env: {},
    });
    expect(h.watchdog).toBeNull();
    expect(h.notifier.enabled).toBe(false);
    await h.stop();
  });
});
