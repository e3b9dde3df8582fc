import type { IPublishPacket } from 'mqtt';
import type { MqttConfig } from '../config/mqtt.ts';
import { type Logger, silentLogger } from '../log.ts';
import type { MqttClient } from './client.ts';
import {
  type CommandName,
  type CommandParams,
  type CommandResponse,
  commandNames,
  commandParamSchemas,
  isCommandName,
  type Transaction,
  transactionSchema,
} from './payloads.ts';

export interface SetConfigResult {
  /** true when the change takes effect only after `restart` */
  restartRequired: boolean;
  [key: string]: unknown;
}

type Maybe<T> = T | Promise<T>;

/**
 * What the device can be asked to do over MQTT. The daemon's controller implements it;
 * parameters arrive validated. A thrown error becomes an error response with its message.
 */
export interface DeviceApi {
  /** running configuration, secrets redacted */
  getConfig(): Maybe<unknown>;
  setConfig(params: CommandParams<'set_config'>): Maybe<SetConfigResult>;
  selectModel(params: CommandParams<'select_model'>): Maybe<unknown>;
  capture(params: CommandParams<'capture'>): Maybe<unknown>;
  start(params: CommandParams<'start'>): Maybe<unknown>;
  stop(params: CommandParams<'stop'>): Maybe<unknown>;
  dmdShow(params: CommandParams<'dmd_show'>): Maybe<unknown>;
  stageMove(params: CommandParams<'stage_move'>): Maybe<unknown>;
  stageHome(params: CommandParams<'stage_home'>): Maybe<unknown>;
  /** runs at once, never queued behind other commands */
  estop(): Maybe<unknown>;
  selftest(params: CommandParams<'selftest'>): Maybe<unknown>;
  /** should schedule the restart (after delayMs) and return, so the response goes out first */
  restart(params: CommandParams<'restart'>): Maybe<unknown>;
}

type Dispatch = { [N in CommandName]: (api: DeviceApi, p: CommandParams<N>) => Maybe<unknown> };

const dispatch: Dispatch = {
  get_config: (api) => api.getConfig(),
  set_config: (api, p) => api.setConfig(p),
  select_model: (api, p) => api.selectModel(p),
  capture: (api, p) => api.capture(p),
  start: (api, p) => api.start(p),
  stop: (api, p) => api.stop(p),
  dmd_show: (api, p) => api.dmdShow(p),
  stage_move: (api, p) => api.stageMove(p),
  stage_home: (api, p) => api.stageHome(p),
  estop: (api) => api.estop(),
  selftest: (api, p) => api.selftest(p),
  restart: (api, p) => api.restart(p),
};

/** Commands that must not wait behind a running one. */
const IMMEDIATE = new Set<CommandName>(['estop']);

export interface CommandServerOptions {
  client: MqttClient;
  api: DeviceApi;
  config: MqttConfig['commands'];
  logger?: Logger;
}

export interface CommandStats {
  received: number;
  ok: number;
  errors: number;
  /** requests not answered because their response topic pointed back into …/cmd/ */
  ignored: number;
  queued: number;
}

interface Reply {
  topic: string;
  correlationData?: Buffer;
  transaction?: Transaction;
}

class CommandError extends Error {}

function describeIssues(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.map(String).join('.') : '(params)'}: ${i.message}`)
    .join('; ');
}

function clip(s: string, n = 64): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/**
 * Request/response on …/cmd/<name>. Answers every request it can address: bad JSON, wrong
 * types, unknown or disabled commands, oversized payloads and handler failures all get an
 * error response; nothing here throws into the MQTT client. Valid commands run one at a time.
 */
export class CommandServer {
  private readonly client: MqttClient;
  private readonly api: DeviceApi;
  private readonly cfg: MqttConfig['commands'];
  private readonly log: Logger;
  private chain: Promise<void> = Promise.resolve();
  private queued = 0;
  private running = false;
  private counters = { received: 0, ok: 0, errors: 0, ignored: 0 };
  private readonly onMessage = (topic: string, payload: Buffer, packet: IPublishPacket): void => {
    try {
      this.handle(topic, payload, packet);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'command handling failed');
    }
  };
  private readonly onConnect = (): void => {
    this.subscribe();
  };

  constructor(opts: CommandServerOptions) {
    this.client = opts.client;
    this.api = opts.api;
    this.cfg = opts.config;
    this.log = (opts.logger ?? silentLogger).child({ module: 'commands' });
  }

  /** Subscribe to …/cmd/+ now (if connected) and after every reconnect. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.client.on('message', this.onMessage);
    this.client.on('connect', this.onConnect);
    if (this.client.connected) this.subscribe();
  }

  stop(): void {
    this.running = false;
    this.client.off('message', this.onMessage);
    this.client.off('connect', this.onConnect);
  }

  /** Resolves when the subscription is in place (for callers that must not miss requests). */
  ready: Promise<void> = Promise.resolve();

  private subscribe(): void {
    this.ready = this.client.subscribe(this.client.topics.commandFilter, 1).catch((e: Error) => {
      this.log.error({ err: e.message }, 'cannot subscribe to command topics');
    });
  }

  stats(): CommandStats {
    return { ...this.counters, queued: this.queued };
  }

  private handle(topic: string, payload: Buffer, packet: IPublishPacket): void {
    const topics = this.client.topics;
    const name = topics.commandName(topic);
    if (name === undefined) return;
    this.counters.received++;
    const props = packet.properties;
    const responseTopic = typeof props?.responseTopic === 'string' && props.responseTopic.length > 0 ? props.responseTopic : undefined;
    if (responseTopic !== undefined && (topics.isCommandNamespace(responseTopic) || /[#+]/.test(responseTopic))) {
      // answering there would feed our own command handler (or is not a valid topic)
      this.counters.ignored++;
      this.log.warn({ command: clip(name), responseTopic: clip(responseTopic, 200) }, 'refusing to answer into a command topic');
      return;
    }
    const reply: Reply = {
      topic: responseTopic ?? topics.commandResponse(name),
      correlationData: Buffer.isBuffer(props?.correlationData) ? props.correlationData : undefined,
    };

    let request: Record<string, unknown>;
    try {
      request = this.parse(payload, packet);
      if ('transaction' in request) {
        const t = transactionSchema.safeParse(request.transaction);
        if (!t.success) throw new CommandError('transaction must be a string of at most 256 characters or a finite number');
        reply.transaction = t.data;
      }
      if (!this.cfg.enabled) throw new CommandError('commands are disabled on this device (mqtt.commands.enabled)');
      if (!isCommandName(name)) throw new CommandError(`unknown command "${clip(name)}"; known: ${commandNames.join(', ')}`);
      if (this.cfg.disabled.includes(name))
        throw new CommandError(`command "${name}" is disabled by configuration (mqtt.commands.disabled)`);
    } catch (e) {
      this.answerError(reply, e);
      return;
    }
    const { transaction: _t, ...params } = request;
    const parsed = commandParamSchemas[name].safeParse(params);
    if (!parsed.success) {
      this.answerError(reply, new CommandError(`invalid parameters for ${name}: ${describeIssues(parsed.error.issues)}`));
      return;
    }
    const run = (): Promise<void> => this.execute(name, parsed.data, reply);
    if (IMMEDIATE.has(name)) {
      void run();
      return;
    }
    if (this.queued >= this.cfg.maxQueue) {
      this.answerError(reply, new CommandError(`busy: ${this.queued} commands already waiting`));
      return;
    }
    this.queued++;
    this.chain = this.chain.then(run).finally(() => {
      this.queued--;
    });
  }

  private parse(payload: Buffer, packet: IPublishPacket): Record<string, unknown> {
    if (packet.retain) throw new CommandError('retained command ignored: publish commands without the retain flag');
    if (payload.length > this.cfg.maxPayloadBytes) {
      throw new CommandError(`payload of ${payload.length} bytes exceeds the limit of ${this.cfg.maxPayloadBytes} bytes`);
    }
    const text = payload.toString('utf8').trim();
    if (text === '') return {};
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new CommandError(`payload is not valid JSON: ${clip((e as Error).message, 120)}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new CommandError(
        `payload must be a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`,
      );
    }
    return value as Record<string, unknown>;
  }

  private async execute<N extends CommandName>(name: N, params: CommandParams<N>, reply: Reply): Promise<void> {
    const handler = dispatch[name] as (api: DeviceApi, p: CommandParams<N>) => Maybe<unknown>;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new CommandError(`${name} did not finish within ${this.cfg.timeoutMs} ms`)), this.cfg.timeoutMs);
      });
      const data = await Promise.race([Promise.resolve().then(() => handler(this.api, params)), timeout]);
      await this.answer(reply, { status: 'ok', ...(data === undefined ? {} : { data }) });
      this.counters.ok++;
    } catch (e) {
      this.answerError(reply, e);
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  private answerError(reply: Reply, e: unknown): void {
    this.counters.errors++;
    const message = e instanceof Error ? e.message || e.name : String(e);
    void this.answer(reply, { status: 'error', error: message });
  }

  private async answer(reply: Reply, body: CommandResponse): Promise<void> {
    const full: CommandResponse = reply.transaction === undefined ? body : { ...body, transaction: reply.transaction };
    let text: string;
    try {
      text = JSON.stringify(full);
    } catch (e) {
      text = JSON.stringify({
        status: 'error',
        error: `result is not JSON-serialisable: ${(e as Error).message}`,
        transaction: reply.transaction,
      });
    }
    try {
      await this.client.publish(reply.topic, text, {
        qos: 1,
        properties: reply.correlationData ? { correlationData: reply.correlationData } : undefined,
      });
    } catch (e) {
      this.log.warn({ err: (e as Error).message, topic: reply.topic }, 'could not publish command response');
    }
  }
}
