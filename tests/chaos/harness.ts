import mqtt, { type MqttClient as RawClient } from 'mqtt';
import { dmdSchema, type StageAxisConfig } from '../../src/config/hardware.ts';
import { mqttSchema } from '../../src/config/mqtt.ts';
import { homeStage, moveStage, resetEstop, showPattern } from '../../src/hardware/device-commands.ts';
import { createSimDmdRig, type SimDmdRig } from '../../src/hardware/sim/dmd-rig.ts';
import { SimGpioChip } from '../../src/hardware/sim/gpio-chip.ts';
import { SimGpioStage } from '../../src/hardware/sim/stage-gpio.ts';
import { GpioStepperStage } from '../../src/hardware/stage/gpio-stepper.ts';
import { silentLogger } from '../../src/log.ts';
import { EmbeddedBroker } from '../../src/mqtt/broker.ts';
import { MqttClient } from '../../src/mqtt/client.ts';
import { CommandServer, type DeviceApi } from '../../src/mqtt/commands.ts';

/**
 * The command surface wired to real drivers on simulated devices: the DLPC900 driver on the
 * simulated I2C bus with the controller model, the GPIO stepper driver on simulated lines with
 * the carriage model, a real broker, the real MqttClient and CommandServer. The motion/DMD
 * handlers are the ones the daemon's controller calls (src/hardware/device-commands.ts); only the
 * few lines of glue the controller adds (which part answers which command) are repeated here.
 */
export interface Rig {
  url: string;
  server: CommandServer;
  dmd: SimDmdRig;
  twin: SimGpioStage;
  stage: GpioStepperStage;
  api: DeviceApi;
  /** device-side truth: the mask on the mirrors and lit now */
  dmdLit(): boolean;
  ask(name: string, params?: Record<string, unknown>): Promise<Answer>;
  /** publish without waiting for the answer; resolves with it */
  send(name: string, params?: Record<string, unknown>): Promise<Answer>;
  observer: RawClient;
  /** responses the observer received on …/cmd/+/response */
  received(): Answer[];
  close(): Promise<void>;
}

export interface Answer {
  status: 'ok' | 'error';
  data?: unknown;
  error?: string;
  transaction?: string;
}

export const AXIS: StageAxisConfig = {
  stepPin: 17,
  dirPin: 27,
  enablePin: 22,
  limitPin: 5,
  allowUnhomedMoves: false,
  stepsPerUm: 0.2,
  microstep: 16,
  minUm: 0,
  maxUm: 2000,
  maxSpeedUmS: 4000,
  accelUmS2: 20000,
  homeDirection: 'min',
  limitActiveLow: false,
  homeBackoffUm: 100,
  enableActiveLow: true,
};

export async function startRig(commands: Record<string, unknown> = {}): Promise<Rig> {
  const broker = new EmbeddedBroker({ host: '127.0.0.1', port: 0, logger: silentLogger });
  const url = await broker.start();
  const dmd = createSimDmdRig(dmdSchema.parse({ type: 'dlpc900', bus: 'sim' }) as Parameters<typeof createSimDmdRig>[0]);
  const chip = new SimGpioChip();
  const axes = { x: AXIS };
  const twin = new SimGpioStage(chip, { axes });
  const stage = await GpioStepperStage.open(chip, { axes, debounceMs: 0, motionTimeoutMs: 30_000 }, silentLogger);
  const api: DeviceApi = {
    getConfig: () => ({ device: { id: 'chaos' } }),
    setConfig: (p) => ({ restartRequired: false, patch: p.patch }),
    selectModel: (p) => ({ model: p.model }),
    capture: (p) => ({ frames: p.count }),
    start: () => ({ streaming: true }),
    stop: () => ({ streaming: false }),
    renderAccumulated: () => ({ trigger: 'request' }),
    dmdShow: async (p, ctx) => {
      const mask = await showPattern(dmd.dmd, p.pattern, ctx?.signal);
      return { points: mask.points.length };
    },
    stageMove: (p, ctx) => moveStage(stage, p, ctx?.signal),
    stageHome: (p, ctx) => homeStage(stage, p.axes, ctx?.signal),
    estop: async () => {
      stage.estop();
      await dmd.dmd.stop().catch(() => undefined);
      return { stage: 'halted', dmd: 'stopped' };
    },
    estopReset: () => resetEstop(stage),
    selftest: () => ({ score: 1 }),
    restart: (p) => ({ restartingInMs: p.delayMs }),
  };
  const cfg = mqttSchema.parse({ protocolVersion: 4, reconnectPeriodMs: 200, commands: { maxQueue: 20_000, ...commands } });
  const client = new MqttClient({ url, deviceId: 'chaos', config: cfg });
  client.start();
  await client.waitForConnect(10_000);
  const server = new CommandServer({ client, api, config: cfg.commands, streams: ['main'] });
  server.start();
  await server.ready;

  const observer = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: `chaos-obs-${process.pid}` });
  const waiting = new Map<string, (a: Answer) => void>();
  const answers: Answer[] = [];
  observer.on('message', (_topic, payload) => {
    let a: Answer;
    try {
      a = JSON.parse(payload.toString()) as Answer;
    } catch {
      return;
    }
    answers.push(a);
    if (a.transaction !== undefined) {
      waiting.get(a.transaction)?.(a);
      waiting.delete(a.transaction);
    }
  });
  await observer.subscribeAsync('rayleigh/chaos/cmd/+/response', { qos: 1 });
  let n = 0;
  const send = (name: string, params: Record<string, unknown> = {}): Promise<Answer> => {
    const transaction = `${name}-${++n}`;
    const answered = new Promise<Answer>((resolve) => waiting.set(transaction, resolve));
    void observer.publishAsync(`rayleigh/chaos/cmd/${name}`, JSON.stringify({ ...params, transaction }), { qos: 1 });
    return answered;
  };
  return {
    url,
    server,
    dmd,
    twin,
    stage,
    api,
    dmdLit: () => dmd.model.shownMask() !== null,
    ask: send,
    send,
    observer,
    received: () => answers,
    async close() {
      server.stop();
      await observer.endAsync(true);
      await client.stop(500);
      await stage.close();
      await dmd.dmd.close().catch(() => undefined);
      twin.dispose();
      await broker.stop();
    },
  };
}
