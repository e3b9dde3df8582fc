import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type IClientPublishOptions, type IPublishPacket, type MqttClient as RawClient } from 'mqtt';
import type { MqttConfig } from '../config/mqtt.ts';
import { UserError } from '../errors.ts';
import { type Logger, silentLogger } from '../log.ts';
import { isLoopbackHost } from '../net/loopback.ts';
import { Topics } from './topics.ts';

export type ProtocolVersion = 4 | 5;

export interface MqttClientOptions {
  /** broker URL; the embedded broker's URL when mqtt.url is absent */
  url: string;
  deviceId: string;
  config: MqttConfig;
  logger?: Logger;
}

export interface MqttClientState {
  /** URL with any credentials removed */
  url: string;
  clientId: string;
  connected: boolean;
  /** negotiated protocol: 5, or 4 (3.1.1) when the broker refused 5; null before the first connection */
  protocolVersion: ProtocolVersion | null;
  connects: number;
  reconnects: number;
  lastError?: string;
  /** ms since epoch of the last connect or disconnect */
  since: number;
}

export interface PublishOptions {
  qos?: 0 | 1 | 2;
  retain?: boolean;
  properties?: IPublishPacket['properties'];
}

export type MessageHandler = (topic: string, payload: Buffer, packet: IPublishPacket) => void;

interface ClientEvents {
  connect: [];
  close: [];
  message: Parameters<MessageHandler>;
}

/** The URL with user info removed, for logs and health. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = '';
      u.password = '';
    }
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(invalid url)';
  }
}

/** Parse and vet a broker URL against the security policy; throws UserError with the reason. */
export function checkBrokerUrl(url: string, allowInsecureRemote: boolean): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError(`mqtt.url is not a valid URL: ${redactUrl(url)}`);
  }
  const scheme = u.protocol.replace(/:$/, '');
  if (!['mqtt', 'mqtts', 'ws', 'wss', 'tcp', 'ssl', 'tls'].includes(scheme)) {
    throw new UserError(`mqtt.url scheme "${scheme}" is not supported (use mqtt://, mqtts://, ws:// or wss://)`);
  }
  const plaintext = scheme === 'mqtt' || scheme === 'ws' || scheme === 'tcp';
  if (plaintext && !isLoopbackHost(u.hostname) && !allowInsecureRemote) {
    throw new UserError(
      `refusing plaintext MQTT (${scheme}://) to non-loopback host ${u.hostname}: use mqtts:// or wss:// with mqtt.tls, or set mqtt.allowInsecureRemote: true`,
    );
  }
  return u;
}

function readSecretFile(what: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new UserError(`mqtt.tls.${what}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

function isProtocolRefusal(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  // 1 = 3.1.1 "unacceptable protocol version", 132 = MQTT 5 "unsupported protocol version"
  return code === 1 || code === 132;
}

/**
 * The wait before the next connection attempt after one failed: doubling from reconnectPeriodMs
 * up to reconnectMaxMs. The cap is what bounds how long the device stays offline after its
 * broker is back, so it stays short (default 5 s): a refused attempt costs one TCP handshake.
 */
export function nextReconnectDelay(current: number, cfg: Pick<MqttConfig, 'reconnectPeriodMs' | 'reconnectMaxMs'>): number {
  return Math.min(cfg.reconnectMaxMs, Math.max(cfg.reconnectPeriodMs, current * 2));
}

/**
 * The device's connection to its broker: Last Will `offline`, retained `online` on every
 * connect, `stopped` on a clean stop, MQTT 5 with fallback to 3.1.1, reconnect with backoff.
 */
export class MqttClient extends EventEmitter<ClientEvents> {
  readonly topics: Topics;
  readonly clientId: string;
  private raw: RawClient | undefined;
  private version: ProtocolVersion;
  private negotiated: ProtocolVersion | null = null;
  private readonly baseOptions: IClientOptions;
  private readonly url: string;
  private readonly log: Logger;
  private readonly cfg: MqttConfig;
  private stopping = false;
  private connects = 0;
  private reconnects = 0;
  private lastError: string | undefined;
  private since = Date.now();
  private connectedOnce = false;

  constructor(opts: MqttClientOptions) {
    super();
    this.cfg = opts.config;
    this.log = (opts.logger ?? silentLogger).child({ module: 'mqtt' });
    this.topics = new Topics(opts.config.prefix, opts.deviceId);
    this.clientId = opts.config.clientId ?? `rayleigh-${opts.deviceId}`;
    const u = checkBrokerUrl(opts.url, opts.config.allowInsecureRemote);
    this.url = opts.url;
    this.version = opts.config.protocolVersion;
    const secure = ['mqtts:', 'wss:', 'ssl:', 'tls:'].includes(u.protocol);
    const tls = opts.config.tls;
    this.baseOptions = {
      clientId: this.clientId,
      clean: true,
      keepalive: opts.config.keepalive,
      reconnectPeriod: opts.config.reconnectPeriodMs,
      connectTimeout: 10_000,
      reconnectOnConnackError: true,
      // results are buffered by the disk spool, not in memory while offline
      queueQoSZero: false,
      resubscribe: true,
      username: opts.config.username ?? (u.username ? decodeURIComponent(u.username) : undefined),
      password: opts.config.password ?? (u.password ? decodeURIComponent(u.password) : undefined),
      will: { topic: this.topics.status, payload: Buffer.from('offline'), qos: 1, retain: true },
      ...(secure
        ? {
            ca: tls.ca ? readSecretFile('ca', tls.ca) : undefined,
            cert: tls.cert ? readSecretFile('cert', tls.cert) : undefined,
            key: tls.key ? readSecretFile('key', tls.key) : undefined,
            rejectUnauthorized: tls.rejectUnauthorized,
          }
        : {}),
    };
    if ((tls.cert && !tls.key) || (tls.key && !tls.cert)) {
      throw new UserError('mqtt.tls: cert and key must be given together');
    }
  }

  /** Begin connecting; never throws for an unreachable broker (it keeps retrying). */
  start(): void {
    if (this.raw) return;
    this.stopping = false;
    this.open();
  }

  private open(): void {
    const url = new URL(this.url);
    url.username = '';
    url.password = '';
    const raw = mqtt.connect(url.toString(), { ...this.baseOptions, protocolVersion: this.version });
    this.raw = raw;
    raw.on('connect', () => {
      if (this.raw !== raw) return;
      this.connects++;
      this.connectedOnce = true;
      this.negotiated = this.version;
      this.since = Date.now();
      raw.options.reconnectPeriod = this.cfg.reconnectPeriodMs;
      this.log.info({ url: redactUrl(this.url), protocolVersion: this.version }, 'mqtt connected');
      raw.publish(this.topics.status, 'online', { qos: 1, retain: true }, (err) => {
        if (err) this.log.warn({ err: err.message }, 'could not publish online status');
      });
      this.emit('connect');
    });
    raw.on('reconnect', () => {
      if (this.raw !== raw) return;
      this.reconnects++;
    });
    raw.on('close', () => {
      if (this.raw !== raw) return;
      raw.options.reconnectPeriod = nextReconnectDelay(raw.options.reconnectPeriod ?? this.cfg.reconnectPeriodMs, this.cfg);
      if (this.negotiated !== null && this.since !== 0) this.since = Date.now();
      this.emit('close');
    });
    raw.on('error', (err) => {
      if (this.raw !== raw) return;
      this.lastError = err.message;
      if (this.version === 5 && !this.connectedOnce && isProtocolRefusal(err)) {
        this.log.info('broker refused MQTT 5; falling back to MQTT 3.1.1');
        this.version = 4;
        this.raw = undefined;
        raw.removeAllListeners();
        raw.on('error', () => {});
        raw.end(true);
        if (!this.stopping) this.open();
        return;
      }
      this.log.warn({ err: err.message, url: redactUrl(this.url) }, 'mqtt error');
    });
    raw.on('message', (topic, payload, packet) => {
      if (this.raw !== raw) return;
      this.emit('message', topic, payload, packet);
    });
  }

  get connected(): boolean {
    return this.raw?.connected === true;
  }

  get protocolVersion(): ProtocolVersion | null {
    return this.negotiated;
  }

  state(): MqttClientState {
    return {
      url: redactUrl(this.url),
      clientId: this.clientId,
      connected: this.connected,
      protocolVersion: this.negotiated,
      connects: this.connects,
      reconnects: this.reconnects,
      ...(this.lastError ? { lastError: this.lastError } : {}),
      since: this.since,
    };
  }

  /** Resolves once connected (immediately if already); rejects after timeoutMs. */
  waitForConnect(timeoutMs = 10_000): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.off('connect', ok);
        reject(
          new Error(`no MQTT connection to ${redactUrl(this.url)} within ${timeoutMs} ms${this.lastError ? ` (${this.lastError})` : ''}`),
        );
      }, timeoutMs);
      const ok = (): void => {
        clearTimeout(t);
        resolve();
      };
      this.once('connect', ok);
    });
  }

  /** Resolves when the broker acknowledged (QoS ≥ 1) or the packet was written (QoS 0). */
  publish(topic: string, payload: string | Buffer, opts: PublishOptions = {}): Promise<void> {
    const raw = this.raw;
    if (!raw) return Promise.reject(new Error('mqtt client not started'));
    const po: IClientPublishOptions = { qos: opts.qos ?? 0, retain: opts.retain ?? false };
    if (opts.properties && this.negotiated === 5) po.properties = opts.properties;
    return new Promise((resolve, reject) => {
      raw.publish(topic, payload, po, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** `rap` (MQTT 5 Retain As Published) keeps the retain flag on live delivery; ignored on 3.1.1. */
  subscribe(filter: string, qos: 0 | 1 | 2 = 1, opts: { rap?: boolean } = {}): Promise<void> {
    const raw = this.raw;
    if (!raw) return Promise.reject(new Error('mqtt client not started'));
    return new Promise((resolve, reject) => {
      raw.subscribe(filter, { qos, ...(opts.rap ? { rap: true } : {}) }, (err, granted) => {
        if (err) reject(err);
        else if (granted?.some((g) => g.qos === 128)) reject(new Error(`broker refused subscription to ${filter}`));
        else resolve();
      });
    });
  }

  /** Clean stop: retained `stopped`, then DISCONNECT (so the Last Will is not sent). */
  async stop(timeoutMs = 3000): Promise<void> {
    const raw = this.raw;
    if (!raw) return;
    this.stopping = true;
    if (raw.connected) {
      await Promise.race([
        new Promise<void>((resolve) => raw.publish(this.topics.status, 'stopped', { qos: 1, retain: true }, () => resolve())),
        new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref()),
      ]);
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        raw.end(true, () => resolve());
      }, timeoutMs);
      t.unref();
      raw.end(false, () => {
        clearTimeout(t);
        resolve();
      });
    });
    this.raw = undefined;
  }

  /**
   * Drop the connection without DISCONNECT and stop reconnecting, as a crash would
   * (the broker then publishes the Last Will). For tests and the watchdog.
   */
  abort(): void {
    const raw = this.raw;
    if (!raw) return;
    this.stopping = true;
    this.raw = undefined;
    raw.removeAllListeners();
    raw.on('error', () => {});
    raw.end(true);
  }
}

/** The MQTT section safe to log or return from get_config: password and URL user info masked. */
export function redactMqttConfig(cfg: MqttConfig): MqttConfig {
  return {
    ...cfg,
    ...(cfg.url ? { url: redactUrl(cfg.url) } : {}),
    ...(cfg.password !== undefined ? { password: '***' } : {}),
  };
}
