import { afterEach, describe, expect, it } from 'vitest';
import { type DeviceStatus, Metrics } from '../../../src/health/metrics.ts';
import type { SystemSnapshot } from '../../../src/health/system.ts';
import { listToColumns } from '../../../src/inference/peaks.ts';
import type { FrameResult, StageTimings } from '../../../src/pipeline/types.ts';

const hubs: Metrics[] = [];
function hub(opts: ConstructorParameters<typeof Metrics>[0]): Metrics {
  const m = new Metrics({ defaultMetrics: false, ...opts });
  hubs.push(m);
  return m;
}
afterEach(() => {
  for (const m of hubs.splice(0)) m.close();
});

function timings(total: number): StageTimings {
  return { queue: total * 0.1, preprocess: total * 0.2, reconstruct: total * 0.5, postprocess: total * 0.1, encode: total * 0.1, total };
}

describe('Metrics', () => {
  it('counts frames, rates and latency percentiles in the snapshot', () => {
    let t = 10_000;
    const m = hub({ now: () => t, windowSeconds: 10, version: '9.9.9', deviceId: 'dev1' });
    for (let i = 1; i <= 100; i++) {
      m.frameIn();
      m.frameOut(timings(i));
      if (i % 10 === 0) m.frameDropped();
      t += 100; // 10 fps for 10 s
    }
    m.setQueueDepth(3);
    const s = m.snapshot();
    expect(s.version).toBe('9.9.9');
    expect(s.deviceId).toBe('dev1');
    expect(s.frames).toMatchObject({ in: 100, out: 100, dropped: 10 });
    expect(s.frames.outPerSecond).toBeGreaterThan(8);
    expect(s.frames.outPerSecond).toBeLessThanOrEqual(10);
    expect(s.frames.droppedPerSecond).toBeCloseTo(s.frames.outPerSecond / 10, 1);
    expect(s.latencyMs.total).toEqual({ p50: 50, p95: 95, p99: 99, count: 100 });
    expect(s.latencyMs.reconstruct.p99).toBeCloseTo(99 * 0.5, 6);
    expect(s.queueDepth).toBe(3);
    expect(s.uptimeSeconds).toBeCloseTo(10, 3);
    expect(s.process.rssBytes).toBeGreaterThan(0);
    // the payload must survive the trip through MQTT as JSON
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
  });

  it('takes model, drops and restarts from cumulative sources without double counting', () => {
    const m = hub({});
    const result: FrameResult = {
      stream: 'main',
      seq: 1,
      timestamp: 0,
      source: 'sim',
      model: { id: 'damn-int8', fingerprint: 'abc123', provider: 'cpu' },
      input: { width: 2, height: 2 },
      sensor: { x: 0, y: 0, binning: 1 },
      output: { width: 4, height: 4 },
      scale: 2,
      localizations: listToColumns([]),
      timings: timings(10),
      dropped: 4,
      tiles: 1,
      overhead: 1,
    };
    m.observeResult(result);
    m.observeResult({ ...result, seq: 2, dropped: 6 });
    m.setCameraRestartsTotal(2);
    m.setCameraRestartsTotal(2);
    m.setCameraRestartsTotal(3);
    const s = m.snapshot();
    expect(s.frames.out).toBe(2);
    expect(s.frames.dropped).toBe(6);
    expect(s.camera.restarts).toBe(3);
    // a source that counts no drops of its own reports none
    expect(s.camera.dropped).toBeUndefined();
    m.setCameraDroppedTotal(5);
    m.setCameraDroppedTotal(5);
    m.setCameraDroppedTotal(7);
    expect(m.snapshot().camera).toEqual({ restarts: 3, dropped: 7 });
    expect(s.model).toMatchObject({ id: 'damn-int8', hash: 'abc123', provider: 'cpu', tiles: 1 });
  });

  it('includes providers and survives a throwing one', () => {
    const devices: DeviceStatus[] = [{ name: 'dmd', kind: 'dmd', ok: false, faults: 2, lastFault: 'i2c nack' }];
    const system: SystemSnapshot = { at: 1, cpuTemperatureC: 51.5, thermalZones: [], throttling: null, tegra: null };
    const m = hub({
      devices: () => devices,
      broker: () => {
        throw new Error('client gone');
      },
      system: () => system,
      streaming: () => false,
    });
    m.setSelfTest({ score: 0.87, at: 5 });
    const s = m.snapshot();
    expect(s.devices).toEqual(devices);
    expect(s.broker).toBeNull();
    expect(s.system?.cpuTemperatureC).toBe(51.5);
    expect(s.selfTest).toEqual({ score: 0.87, at: 5 });
    expect(s.streaming).toBe(false);
  });

  it('exposes the same numbers in Prometheus text', async () => {
    const m = hub({
      version: '1.2.3',
      devices: () => [{ name: 'stage', ok: true, faults: 1 }],
      broker: () => ({ state: 'connected', connected: true, spoolMessages: 7 }),
      system: () => ({
        at: 1,
        cpuTemperatureC: 48,
        thermalZones: [],
        throttling: {
          raw: 0x50005,
          underVoltage: true,
          freqCapped: false,
          throttled: true,
          softTempLimit: false,
          underVoltageOccurred: true,
          freqCappedOccurred: false,
          throttledOccurred: true,
          softTempLimitOccurred: false,
        },
        tegra: null,
      }),
    });
    m.setModel({ id: 'unet', hash: 'ff00', provider: 'cpu' });
    m.frameIn(3);
    m.frameOut(timings(20));
    m.setSelfTest({ score: 0.5, at: 1 });
    const text = await m.prometheusText();
    expect(text).toMatch(/^rayleigh_frames_in_total 3$/m);
    expect(text).toMatch(/^rayleigh_frames_out_total 1$/m);
    expect(text).toMatch(/^rayleigh_stage_latency_seconds_count\{stage="total"\} 1$/m);
    expect(text).toMatch(/^rayleigh_stage_latency_quantile_seconds\{stage="total",quantile="0.99"\} 0.02$/m);
    expect(text).toMatch(/^rayleigh_model_info\{id="unet",hash="ff00",provider="cpu"\} 1$/m);
    expect(text).toMatch(/^rayleigh_build_info\{version="1.2.3"\} 1$/m);
    expect(text).toMatch(/^rayleigh_spool_messages 7$/m);
    expect(text).toMatch(/^rayleigh_device_faults\{device="stage"\} 1$/m);
    expect(text).toMatch(/^rayleigh_selftest_score 0.5$/m);
    expect(text).toMatch(/^rayleigh_cpu_temperature_celsius 48$/m);
    expect(text).toMatch(/^rayleigh_throttled\{flag="underVoltage"\} 1$/m);
    expect(text).toMatch(/^rayleigh_throttled\{flag="freqCapped"\} 0$/m);
  });

  it('adds node process metrics to its own registry only', async () => {
    const a = hub({ defaultMetrics: true });
    const b = hub({ defaultMetrics: false });
    expect(await a.prometheusText()).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(await a.prometheusText()).toMatch(/^nodejs_eventloop_lag_p99_seconds /m);
    expect(await b.prometheusText()).not.toMatch(/process_resident_memory_bytes/);
  });
});
