import { describe, expect, it } from 'vitest';
import { FaultRegistry } from '../../../src/hardware/faults.ts';
import { brokerFromMqtt, devicesFromFaults } from '../../../src/health/adapters.ts';
import { Metrics } from '../../../src/health/metrics.ts';

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
    expect(brokerFromMqtt({ ...base, connected: true, connects: 1 }, { count: 3, bytes: 300 })).toEqual({
      state: 'connected',
      connected: true,
      url: 'mqtt://127.0.0.1:1883',
      spoolMessages: 3,
      spoolBytes: 300,
    });
    expect(brokerFromMqtt({ ...base, connected: false, connects: 2 }, null).state).toBe('reconnecting');
    expect(brokerFromMqtt({ ...base, connected: false, connects: 0 }, null).state).toBe('connecting');
  });
});

describe('Metrics.updateFromPipeline', () => {
  it('follows cumulative pipeline counters without double counting', () => {
    const m = new Metrics({ defaultMetrics: false });
    m.updateFromPipeline({ framesIn: 10, dropped: 2, queueDepth: 1 });
    m.updateFromPipeline({ framesIn: 10, dropped: 2, queueDepth: 4 });
    m.updateFromPipeline({ framesIn: 15, dropped: 3, queueDepth: 0 });
    const s = m.snapshot();
    m.close();
    expect(s.frames.in).toBe(15);
    expect(s.frames.dropped).toBe(3);
    expect(s.queueDepth).toBe(0);
  });
});
