import type { IPublishPacket } from 'mqtt';
import type { MqttConfig } from '../config/mqtt.ts';
import { refusedRemoteKeys } from '../config/remote-policy.ts';
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

/** Passed to every handler: `signal` aborts on the command's timeout and on an emergency stop. */
export interface CommandContext {
  signal: AbortSignal;
}

/**
 * What the device can be asked to do over MQTT. The daemon's controller implements it;
 * parameters arrive validated. A thrown error becomes an error response with its message.
 * A handler must stop its work when `ctx.signal` aborts: the next command starts only once
 * the previous one has settled.
 */
export interface DeviceApi {
  /** running configuration, secrets redacted */
  getConfig(ctx?: CommandContext): Maybe<unknown>;
  setConfig(params: CommandParams<'set_config'>, ctx?: CommandContext): Maybe<SetConfigResult>;
  selectModel(params: CommandParams<'select_model'>, ctx?: CommandContext): Maybe<unknown>;
  capture(params: CommandParams<'capture'>, ctx?: CommandContext): Maybe<unknown>;
  start(params: CommandParams<'start'>, ctx?: CommandContext): Maybe<unknown>;
  stop(params: CommandParams<'stop'>, ctx?: CommandContext): Maybe<unknown>;
  /** the accumulated render now, published on …/accumulated; answers its meta */
  renderAccumulated(params: CommandParams<'render_accumulated'>, ctx?: CommandContext): Maybe<unknown>;
  dmdShow(params: CommandParams<'dmd_show'>, ctx?: CommandContext): Maybe<unknown>;
  stageMove(params: CommandParams<'stage_move'>, ctx?: CommandContext): Maybe<unknown>;
  stageHome(params: CommandParams<'stage_home'>, ctx?: CommandContext): Maybe<unknown>;
  /** runs at once, never queued behind other commands */
  estop(): Maybe<unknown>;
  /** clears the e-stop latch of the parts that keep one (the stage) */
  estopReset(ctx?: CommandContext): Maybe<unknown>;
  selftest(params: CommandParams<'selftest'>, ctx?: CommandContext): Maybe<unknown>;
  /** should schedule the restart (after delayMs) and return, so the response goes out first */
  restart(params: CommandParams<'restart'>, ctx?: CommandContext): Maybe<unknown>;
}

type Dispatch = { [N in CommandName]: (api: DeviceApi, p: CommandParams<N>, ctx: CommandContext) => Maybe<unknown> };

const dispatch: Dispatch = {
  get_config: (api, _p, ctx) => api.getConfig(ctx),
  set_config: (api, p, ctx) => api.setConfig(p, ctx),
  select_model: (api, p, ctx) => api.selectModel(p, ctx),
  capture: (api, p, ctx) => api.capture(p, ctx),
  start: (api, p, ctx) => api.start(p, ctx),
  stop: (api, p, ctx) => api.stop(p, ctx),
  render_accumulated: (api, p, ctx) => api.renderAccumulated(p, ctx),
  dmd_show: (api, p, ctx) => api.dmdShow(p, ctx),
  stage_move: (api, p, ctx) => api.stageMove(p, ctx),
  stage_home: (api, p, ctx) => api.stageHome(p, ctx),
  estop: (api) => api.estop(),
  estop_reset: (api, _p, ctx) => api.estopReset(ctx),
  selftest: (api, p, ctx) => api.selftest(p, ctx),
  restart: (api, p, ctx) => api.restart(p, ctx),
};

/** Commands that must not wait behind a running one. */
const IMMEDIATE = new Set<CommandName>(['estop']);

/**
 * Commands refused while an emergency stop is latched: they move the stage, light the DMD, or
 * (restart) would reopen the hardware without the latch.
 */
const LATCHED_OUT = new Set<CommandName>(['dmd_show', 'stage_move', 'stage_home', 'selftest', 'restart']);

export interface CommandServerOptions {
  client: MqttClient;
  api: DeviceApi;
  config: MqttConfig['commands'];
  /** result stream names a `stream` parameter may name; default: any */
  streams?: readonly string[];
  logger?: Logger;
}

export interface CommandStats {
  received: number;
  ok: number;
  errors: number;
  /**
   * requests not run and not answered: retained, empty, or with a response topic pointing back
   * into …/cmd/
   */
  ignored: number;
  queued: number;
  /** requests dropped from the queue or aborted by an emergency stop */
  cancelled: number;
  /** an emergency stop is latched until `estop_reset` */
  estopped: boolean;
  /** handlers that went on running after their timeout or abort (the queue waits for them) */
  overdue: number;
}

interface Reply {
  topic: string;
  correlationData?: Buffer;
  transaction?: Transaction;
}

interface Job {
  name: CommandName;
  params: unknown;
  reply: Reply;
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

const ESTOP_MESSAGE = 'cancelled by emergency stop';

/**
 * Request/response on …/cmd/<name>. Answers every request it can address: bad JSON, wrong
 * types, unknown or disabled commands, oversized payloads and handler failures all get an
 * error response; nothing here throws into the MQTT client. Retained and empty messages are
 * never commands (a retained `restart` would run on every boot, and clearing it is an empty
 * retained publish): they are dropped unanswered.
 *
 * Valid commands run one at a time: a handler that times out is aborted through its signal and
 * the next one starts only after it settled. `estop` jumps the queue, aborts the running
 * command, cancels every queued one, and latches: motion and DMD commands are refused until
 * `estop_reset`.
 */
export class CommandServer {
  private readonly client: MqttClient;
  private readonly api: DeviceApi;
  private readonly cfg: MqttConfig['commands'];
  private readonly streams?: readonly string[];
  private readonly log: Logger;
  private readonly queue: Job[] = [];
  private current: { job: Job; abort: AbortController } | null = null;
  private pumping = false;
  private estopped = false;
  private running = false;
  private idleWaiters: Array<() => void> = [];
  private counters = { received: 0, ok: 0, errors: 0, ignored: 0, cancelled: 0, overdue: 0 };
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
    this.streams = opts.streams;
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
    // Retain As Published (MQTT 5): a retained message keeps its flag even when it is delivered
    // live, so it can be recognised and dropped; 3.1.1 brokers clear the flag on live delivery.
    this.ready = this.client.subscribe(this.client.topics.commandFilter, 1, { rap: true }).catch((e: Error) => {
      this.log.error({ err: e.message }, 'cannot subscribe to command topics');
    });
  }

  stats(): CommandStats {
    return { ...this.counters, queued: this.queue.length, estopped: this.estopped };
  }

  /** Resolves once nothing is running or queued (tests, orderly shutdown). */
  idle(): Promise<void> {
    if (!this.current && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private ignore(why: string, fields: Record<string, unknown>): void {
    this.counters.ignored++;
    this.log.warn(fields, why);
  }

  private handle(topic: string, payload: Buffer, packet: IPublishPacket): void {
    const topics = this.client.topics;
    const name = topics.commandName(topic);
    if (name === undefined) return;
    this.counters.received++;
    if (packet.retain) {
      this.ignore('retained command ignored: publish commands without the retain flag', { command: clip(name) });
      return;
    }
    if (payload.toString('utf8').trim() === '') {
      this.ignore('empty command payload ignored (send {} for a command without parameters)', { command: clip(name) });
      return;
    }
    const props = packet.properties;
    const responseTopic = typeof props?.responseTopic === 'string' && props.responseTopic.length > 0 ? props.responseTopic : undefined;
    if (responseTopic !== undefined && (topics.isCommandNamespace(responseTopic) || /[#+]/.test(responseTopic))) {
      // answering there would feed our own command handler (or is not a valid topic)
      this.ignore('refusing to answer into a command topic', { command: clip(name), responseTopic: clip(responseTopic, 200) });
      return;
    }
    const reply: Reply = {
      topic: responseTopic ?? topics.commandResponse(name),
      correlationData: Buffer.isBuffer(props?.correlationData) ? props.correlationData : undefined,
    };

    let request: Record<string, unknown>;
    try {
      request = this.parse(payload);
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
    try {
      this.checkPolicy(name, parsed.data);
    } catch (e) {
      this.answerError(reply, e);
      return;
    }
    const job: Job = { name, params: parsed.data, reply };
    if (IMMEDIATE.has(name)) {
      void this.emergencyStop(job);
      return;
    }
    if (this.queue.length >= this.cfg.maxQueue) {
      this.answerError(reply, new CommandError(`busy: ${this.queue.length} commands already waiting`));
      return;
    }
    this.queue.push(job);
    void this.pump();
  }

  /** What the device's own configuration forbids remotely, beyond the parameter schemas. */
  private checkPolicy(name: CommandName, params: unknown): void {
    const stream = (params as { stream?: unknown }).stream;
    if (typeof stream === 'string' && this.streams && !this.streams.includes(stream)) {
      throw new CommandError(`unknown stream "${stream}"; this device runs: ${this.streams.join(', ')}`);
    }
    if (name === 'restart' && !this.cfg.allowRestart) {
      throw new CommandError('restart over MQTT is off; set mqtt.commands.allowRestart: true in the config file to allow it');
    }
    if (name === 'set_config') {
      const p = params as CommandParams<'set_config'>;
      if (p.persist && !this.cfg.allowPersist) {
        throw new CommandError('set_config with persist is off; set mqtt.commands.allowPersist: true in the config file to allow it');
      }
      const refused = refusedRemoteKeys(p.patch);
      if (refused.length > 0) {
        throw new CommandError(
          `set_config may not change ${refused
            .slice(0, 5)
            .map((k) => `"${clip(k, 100)}"`)
            .join(
              ', ',
            )}${refused.length > 5 ? ` and ${refused.length - 5} more` : ''}: only settings marked remote in the schema can be changed over MQTT (edit the config file for the rest)`,
        );
      }
    }
  }

  private parse(payload: Buffer): Record<string, unknown> {
    if (payload.length > this.cfg.maxPayloadBytes) {
      throw new CommandError(`payload of ${payload.length} bytes exceeds the limit of ${this.cfg.maxPayloadBytes} bytes`);
    }
    let value: unknown;
    try {
      value = JSON.parse(payload.toString('utf8'));
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

  private async emergencyStop(job: Job): Promise<void> {
    this.estopped = true;
    // nothing queued before the stop may run after it
    for (const queued of this.queue.splice(0)) {
      this.counters.cancelled++;
      this.answerError(queued.reply, new CommandError(ESTOP_MESSAGE));
    }
    if (this.current && !this.current.abort.signal.aborted) {
      this.counters.cancelled++;
      this.current.abort.abort(new CommandError(ESTOP_MESSAGE));
    }
    await this.execute(job, new AbortController());
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let job = this.queue.shift(); job; job = this.queue.shift()) {
        if (this.estopped && LATCHED_OUT.has(job.name)) {
          this.answerError(job.reply, new CommandError(`emergency stop is latched: send estop_reset before ${job.name}`));
          continue;
        }
        const abort = new AbortController();
        this.current = { job, abort };
        try {
          await this.execute(job, abort);
        } finally {
          this.current = null;
        }
      }
    } finally {
      this.pumping = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /**
   * Runs one handler. The answer goes out when it settles, or at once when it is aborted
   * (timeout, e-stop); either way this resolves only after the handler itself settled, so the
   * queue never runs two at a time.
   */
  private async execute(job: Job, abort: AbortController): Promise<void> {
    const { name, reply } = job;
    const handler = dispatch[name] as (api: DeviceApi, p: unknown, ctx: CommandContext) => Maybe<unknown>;
    const timer = setTimeout(
      () => abort.abort(new CommandError(`${name} did not finish within ${this.cfg.timeoutMs} ms; it was aborted`)),
      this.cfg.timeoutMs,
    );
    const work = Promise.resolve().then(() => handler(this.api, job.params, { signal: abort.signal }));
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(abort.signal.reason);
      if (abort.signal.aborted) onAbort();
      else abort.signal.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => undefined);
    try {
      const data = await Promise.race([work, aborted]);
      // the latch clears only once the device's parts have reset theirs
      if (name === 'estop_reset') this.estopped = false;
      await this.answer(reply, { status: 'ok', ...(data === undefined ? {} : { data }) });
      this.counters.ok++;
    } catch (e) {
      this.answerError(reply, e);
    } finally {
      clearTimeout(timer);
      if (onAbort) abort.signal.removeEventListener('abort', onAbort);
    }
    if (abort.signal.aborted) {
      let settled = false;
      const late = setTimeout(() => {
        if (settled) return;
        this.counters.overdue++;
        this.log.error({ command: name }, 'aborted command is still running; later commands wait for it');
      }, 5000);
      late.unref();
      await work.then(
        () => undefined,
        () => undefined,
      );
      settled = true;
      clearTimeout(late);
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
