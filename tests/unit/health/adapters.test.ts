import { describe, expect, it } from 'vitest';
import { FaultRegistry } from '../../../src/hardware/faults.ts';
import { brokerFromMqtt, devicesFromFaults } from '../../../src/health/adapters.ts';
import { Metrics } from '../../../src/health/metrics.ts';
import { makeResult } from '../mqtt/fixtures.ts';

describe('devicesFromFaults', () => {
  it('lists known devices, flags recent faults and keeps counts', () => {
    const reg = new FaultRegistry();
    reg.record('stage', new Error('limit switch'));
    reg.record('stage', new Error('limit switch again'));
    const now = Date.now();
    const d = devicesFromFaults(reg.snapshot(), ['dmd', 'stage'], { now });
    expect(d).toEqual([
      { name: 'dmd', ok: true, faults: 0, lastFault: null },
      { name: 'stage', ok: false, faults: 2, lastFault: 'limit switch again' },
    ]);
    // an old fault no longer marks the device unhealthy, but stays counted
    const later = devicesFromFaults(reg.snapshot(), [], { now: now + 120_000 });
    expect(later).toEqual([{ name: 'stage', ok: true, faults: 2, lastFault: 'limit switch again' }]);
  });
});

describe('brokerFromMqtt', () => {
  it('names the connection state and spool size', () => {
    const base = { url: 'mqtt://127.0.0.1:1883', clientId: 'x', protocolVersion: 5 as const, reconnects: 0, since: 0 };
    expect(
      brokerFromMqtt(
        { ...base, connected: true, connects: 1 },
        { count: 3, bytes: 300, evicted: 4, corrupt: 1, rejected: 2, writeFailed: 0 },
        { refused: 5, lost: 6 },
      ),
    ).toEqual({
      state: 'connected',
      connected: true,
      url: 'mqtt://127.0.0.1:1883',
      spoolMessages: 3,
      spoolBytes: 300,
      lost: { evicted: 4, corrupt: 1, rejected: 2, writeFailed: 0, refused: 5, unspooled: 6 },
    });
    expect(brokerFromMqtt({ ...base, connected: false, connects: 2 }, null).state).toBe('reconnecting');
    expect(brokerFromMqtt({ ...base, connected: false, connects: 0 }, null).state).toBe('connecting');
  });
});

describe('Metrics reading the pipeline counters', () => {
  it('follows cumulative counters without double counting, and health agrees with /metrics', async () => {
    const c = { framesIn: 10, framesOut: 7, dropped: 2, errors: 1, queueDepth: 1, sustainableFps: 3.5, imagesSkipped: 0, outOfRange: 0 };
    const m = new Metrics({ defaultMetrics: false, pipeline: () => c });
    m.snapshot();
    m.snapshot();
    Object.assign(c, { framesIn: 15, framesOut: 11, dropped: 3, queueDepth: 0 });
    const s = m.snapshot();
    const text = await m.prometheusText();
    m.close();
    expect(s.frames).toMatchObject({ in: 15, out: 11, dropped: 3, errors: 1, sustainablePerSecond: 3.5 });
    expect(s.frames.in).toBeGreaterThanOrEqual(s.frames.out);
    expect(s.queueDepth).toBe(0);
    expect(text).toMatch(/^rayleigh_frames_in_total 15$/m);
    expect(text).toMatch(/^rayleigh_frames_out_total 11$/m);
  });

  it('a result pushed between ticks does not count twice when the pipeline owns the counters', () => {
    const c = { framesIn: 1, framesOut: 1, dropped: 0, errors: 0, queueDepth: 0, sustainableFps: 1, imagesSkipped: 0, outOfRange: 0 };
    const m = new Metrics({ defaultMetrics: false, pipeline: () => c });
    m.observeResult(makeResult(1));
    const s = m.snapshot();
    m.close();
    expect(s.frames.out).toBe(1);
    expect(s.latencyMs.total.count).toBe(1);
  });
});

describe('Metrics reading the command queue', () => {
  it('puts cancelled, overdue and the e-stop latch into health', () => {
    const c = { received: 9, ok: 5, errors: 1, ignored: 1, cancelled: 2, overdue: 1, queued: 0, estopped: true };
    const m = new Metrics({ defaultMetrics: false, commands: () => c });
    const s = m.snapshot();
    m.close();
    expect(s.commands).toEqual(c);
    const none = new Metrics({ defaultMetrics: false });
    expect(none.snapshot().commands).toBeNull();
    none.close();
  });
});
