import mqtt, { type IClientOptions, type MqttClient as RawClient } from 'mqtt';
import { type MqttConfig, mqttSchema } from '../../../src/config/mqtt.ts';
import { listToColumns } from '../../../src/inference/peaks.ts';
import { encodePng16, withPngText } from '../../../src/io/png.ts';
import type { CommandContext, DeviceApi, SetConfigResult } from '../../../src/mqtt/commands.ts';
import type { CommandParams, DmdPattern } from '../../../src/mqtt/payloads.ts';
import { makeImage } from '../../../src/optics/image.ts';
import type { FrameResult } from '../../../src/pipeline/types.ts';

export function mqttConfig(over: Record<string, unknown> = {}): MqttConfig {
  // the transport tests exercise every command, restart included (off by default on a device)
  return mqttSchema.parse({ reconnectPeriodMs: 200, reconnectMaxMs: 1000, commands: { allowRestart: true }, ...over });
}

/**
 * A small result whose 16-bit image encodes its seq (the one lit pixel), so a consumer can check
 * which one it got. Built directly: the publisher's input, not the frame path's output, is tested.
 */
export function makeResult(seq: number, stream = 'main', withTruth = false): FrameResult {
  const out = makeImage(16, 16);
  out.data[seq % 256] = 1;
  const png = withPngText(encodePng16(out, { max: 1 }), 'rayleigh', JSON.stringify({ stream, seq, kind: 'image' }));
  return {
    stream,
    seq,
    timestamp: 1_700_000_000_000 + seq,
    source: 'sim',
    model: { id: 'damn-int8', fingerprint: 'abc123', provider: 'cpu' },
    input: { width: 8, height: 8 },
    sensor: { x: 0, y: 0, binning: 1 },
    output: { width: 16, height: 16 },
    scale: 2,
    localizations: listToColumns([{ x: 1.5, y: 2.5, photons: 100, peak: 1 }]),
    timings: { queue: 0.1, preprocess: 0.2, reconstruct: 3, postprocess: 0.4, encode: 0.1, total: 3.7 },
    dropped: 0,
    tiles: 1,
    overhead: 1,
    image: { png, max: 1, bin: 1, region: { x: 0, y: 0, width: 8, height: 8 }, width: 16, height: 16 },
    ...(withTruth
      ? {
          truth: [
            { x: 1.6, y: 2.4, photons: 90 },
            { x: 6, y: 6, photons: 50 },
          ],
        }
      : {}),
  };
}

/**
 * DeviceApi that records its calls; `fail` makes a command throw, `hang` run until its abort
 * signal fires (a well-behaved long handler), `stubborn` ignore the signal and never settle.
 */
export class RecordingApi implements DeviceApi {
  calls: Array<{ name: string; params: unknown }> = [];
  fail = new Set<string>();
  hang = new Set<string>();
  stubborn = new Set<string>();
  /** names of handlers that saw their signal abort, in order */
  aborted: string[] = [];
  /** handlers running right now (to check "one at a time") */
  active = 0;
  maxActive = 0;
  config: Record<string, unknown> = { device: { id: 'd1' } };

  private rec(name: string, params: unknown, ctx?: CommandContext): Promise<unknown> {
    this.calls.push({ name, params });
    if (this.stubborn.has(name)) return new Promise(() => {});
    if (this.hang.has(name)) {
      this.active++;
      this.maxActive = Math.max(this.maxActive, this.active);
      return new Promise((_, reject) => {
        const stop = (): void => {
          this.active--;
          this.aborted.push(name);
          reject(ctx?.signal.reason);
        };
        if (ctx?.signal.aborted) stop();
        else ctx?.signal.addEventListener('abort', stop, { once: true });
      });
    }
    if (this.fail.has(name)) return Promise.reject(new Error(`${name} failed on purpose`));
    return Promise.resolve({ did: name });
  }
  getConfig(): Promise<unknown> {
    this.calls.push({ name: 'get_config', params: {} });
    return Promise.resolve(this.config);
  }
  async setConfig(p: CommandParams<'set_config'>, ctx?: CommandContext): Promise<SetConfigResult> {
    await this.rec('set_config', p, ctx);
    return { restartRequired: 'mqtt' in p.patch, applied: Object.keys(p.patch) };
  }
  selectModel(p: CommandParams<'select_model'>, ctx?: CommandContext) {
    return this.rec('select_model', p, ctx);
  }
  capture(p: CommandParams<'capture'>, ctx?: CommandContext) {
    return this.rec('capture', p, ctx);
  }
  start(p: CommandParams<'start'>, ctx?: CommandContext) {
    return this.rec('start', p, ctx);
  }
  stop(p: CommandParams<'stop'>, ctx?: CommandContext) {
    return this.rec('stop', p, ctx);
  }
  renderAccumulated(p: CommandParams<'render_accumulated'>, ctx?: CommandContext) {
    return this.rec('render_accumulated', p, ctx);
  }
  dmdShow(p: CommandParams<'dmd_show'>, ctx?: CommandContext) {
    return this.rec('dmd_show', p, ctx);
  }
  stageMove(p: CommandParams<'stage_move'>, ctx?: CommandContext) {
    return this.rec('stage_move', p, ctx);
  }
  stageHome(p: CommandParams<'stage_home'>, ctx?: CommandContext) {
    return this.rec('stage_home', p, ctx);
  }
  estop() {
    return this.rec('estop', {});
  }
  estopReset(ctx?: CommandContext) {
    return this.rec('estop_reset', {}, ctx);
  }
  selftest(p: CommandParams<'selftest'>, ctx?: CommandContext) {
    return this.rec('selftest', p, ctx);
  }
  restart(p: CommandParams<'restart'>, ctx?: CommandContext) {
    return this.rec('restart', p, ctx);
  }
}

/** One valid request per command, with the params the API should receive after defaults. */
export const validRequests: Array<{ name: string; req: Record<string, unknown>; expect: unknown }> = [
  { name: 'get_config', req: {}, expect: {} },
  { name: 'set_config', req: { patch: { health: { interval: 5 } } }, expect: { patch: { health: { interval: 5 } }, persist: false } },
  { name: 'select_model', req: { model: 'damn-int8' }, expect: { model: 'damn-int8' } },
  { name: 'capture', req: { count: 3 }, expect: { count: 3 } },
  { name: 'start', req: {}, expect: {} },
  { name: 'stop', req: { stream: 'main' }, expect: { stream: 'main' } },
  {
    name: 'dmd_show',
    req: { pattern: { kind: 'grid', pitch: 16 } },
    expect: { pattern: { kind: 'grid', pitch: 16 } satisfies DmdPattern },
  },
  { name: 'stage_move', req: { axes: { x: 100, y: -5 }, relative: true }, expect: { axes: { x: 100, y: -5 }, relative: true } },
  { name: 'stage_home', req: { axes: ['x'] }, expect: { axes: ['x'] } },
  { name: 'estop', req: {}, expect: {} },
  { name: 'estop_reset', req: {}, expect: {} },
  { name: 'selftest', req: {}, expect: { patterns: 5 } },
  { name: 'restart', req: { delayMs: 10 }, expect: { delayMs: 10 } },
];

export interface Collected {
  topic: string;
  payload: Buffer;
  retain: boolean;
  properties?: Record<string, unknown>;
}

/** An observer client that records every message it gets. */
export async function observer(
  url: string,
  filters: string[],
  opts: IClientOptions = {},
): Promise<{ raw: RawClient; msgs: Collected[]; close(): Promise<void> }> {
  const raw = await mqtt.connectAsync(url, { reconnectPeriod: 200, connectTimeout: 5000, ...opts });
  const msgs: Collected[] = [];
  raw.on('message', (topic, payload, packet) => {
    msgs.push({ topic, payload, retain: packet.retain, properties: packet.properties as Record<string, unknown> | undefined });
  });
  await raw.subscribeAsync(filters, { qos: 1 });
  return {
    raw,
    msgs,
    close: async () => {
      await raw.endAsync(true);
    },
  };
}

export async function until(cond: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
