import type { MqttConfig } from '../config/mqtt.ts';
import { type Logger, silentLogger } from '../log.ts';
import type { FrameResult, ResultSink } from '../pipeline/types.ts';
import type { MqttClient, MqttClientState } from './client.ts';
import { type EventInput, type EventPayload, eventSchema, type HealthPayload, toAccumulatedMeta, toResultMeta } from './payloads.ts';
import type { Spool, SpoolRecord, SpoolStats } from './spool.ts';

export interface ResultPublisherOptions {
  client: MqttClient;
  spool: Spool;
  config: Pick<MqttConfig, 'results'>;
  logger?: Logger;
}

export interface PublisherStats {
  mqtt: MqttClientState;
  spool: SpoolStats;
  /** results acknowledged by the broker (or written, at QoS 0) */
  published: number;
  /** records the broker refused outright (MQTT 5 reason code ≥ 0x80), dropped */
  refused: number;
  inflight: number;
  /** results that could not even be spooled (disk full, encoding failure) */
  lost: number;
  eventsDropped: number;
  /** accumulated renders not sent (offline or refused); the next render supersedes them */
  accumulatedSkipped: number;
}

const MAX_PENDING_EVENTS = 100;
/** bytes accepted by the spool but not yet on disk beyond which publish() waits for the disk */
const SPOOL_BACKLOG_BYTES = 8 * 1024 * 1024;
const RETRY_MS = 1000;

/**
 * FrameResult → …/result/<stream>/meta + …/image. Every result goes through the disk spool
 * and is deleted only after the broker acknowledged it, so neither an outage nor a crash
 * between publish and PUBACK loses it; records leave the spool oldest first, at most
 * `results.inflight` unacknowledged at a time.
 */
export class ResultPublisher implements ResultSink {
  private readonly client: MqttClient;
  private readonly spool: Spool;
  private readonly qos: 0 | 1 | 2;
  private readonly window: number;
  private readonly log: Logger;
  private readonly inflight = new Set<number>();
  private running = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private pendingHealth: HealthPayload | undefined;
  private pendingEvents: EventPayload[] = [];
  private drainWaiters: Array<() => void> = [];
  private counters = { published: 0, refused: 0, lost: 0, eventsDropped: 0, accumulatedSkipped: 0 };
  private readonly onConnect = (): void => this.connected();

  constructor(opts: ResultPublisherOptions) {
    this.client = opts.client;
    this.spool = opts.spool;
    this.qos = opts.config.results.qos;
    this.window = opts.config.results.inflight;
    this.log = (opts.logger ?? silentLogger).child({ module: 'publisher' });
  }

  /** Reload the spool and deliver whatever it holds once connected. */
  async start(): Promise<void> {
    if (this.running) return;
    await this.spool.open();
    if (this.running) return;
    this.running = true;
    this.client.on('connect', this.onConnect);
    if (this.client.connected) this.connected();
  }

  /** Stop sending; records not yet acknowledged stay in the spool for the next start. */
  stop(): void {
    this.running = false;
    this.client.off('connect', this.onConnect);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  /**
   * Spool the frame's meta (and its image, when one was due) for delivery; publish the
   * accumulated render, a retained "latest view", directly when connected (it is not worth
   * spooling: the next one supersedes it). Encoding happened in the engine's worker.
   *
   * Resolves at once while the spool keeps up: awaiting every batch window's fsync would hold the
   * pipeline to one frame per window. Once more than SPOOL_BACKLOG_BYTES wait for the disk (a
   * stalled SD card), it resolves only when this record is written, so the pipeline's queue drops
   * frames (counted) instead of memory filling with unwritten results.
   */
  publish(result: FrameResult): Promise<void> {
    let written: Promise<void> = Promise.resolve();
    try {
      const meta = toResultMeta(result);
      this.client.topics.resultMeta(meta.stream);
      const image = result.image
        ? Buffer.from(result.image.png.buffer, result.image.png.byteOffset, result.image.png.byteLength)
        : undefined;
      // accepted (and sendable) at once; the promise settles when it is durable, or was rejected
      written = this.spool
        .append(Buffer.from(JSON.stringify(meta)), image)
        .then((id) => {
          if (id === undefined) this.counters.lost++; // larger than the whole spool, logged there
        })
        .catch((e: Error) => {
          this.counters.lost++;
          this.log.error({ err: e.message, stream: result.stream, seq: result.seq }, 'could not spool result');
        });
      this.pump();
    } catch (e) {
      this.counters.lost++;
      this.log.error({ err: (e as Error).message, stream: result.stream, seq: result.seq }, 'could not spool result');
    }
    const accumulated = this.publishAccumulated(result);
    const backlog = this.spool.stats().pendingBytes > SPOOL_BACKLOG_BYTES ? written : Promise.resolve();
    // a requested render is answered once it is sent, so the answer never overtakes it
    return result.accumulated?.trigger === 'request' ? Promise.all([backlog, accumulated]).then(() => undefined) : backlog;
  }

  private publishAccumulated(result: FrameResult): Promise<void> {
    const meta = toAccumulatedMeta(result);
    const a = result.accumulated;
    if (!meta || !a) return Promise.resolve();
    if (!this.client.connected) {
      this.counters.accumulatedSkipped++;
      return Promise.resolve();
    }
    const t = this.client.topics;
    const png = Buffer.from(a.png.buffer, a.png.byteOffset, a.png.byteLength);
    return Promise.all([
      this.client.publish(t.resultAccumulated(result.stream), png, { qos: 0, retain: true }),
      this.client.publish(t.resultAccumulatedMeta(result.stream), JSON.stringify(meta), { qos: 0, retain: true }),
    ]).then(
      () => undefined,
      () => {
        this.counters.accumulatedSkipped++;
      },
    );
  }

  /** Retained …/health; while offline only the latest is kept and sent on reconnect. */
  health(payload: HealthPayload): void {
    if (!this.client.connected) {
      this.pendingHealth = payload;
      return;
    }
    this.sendHealth(payload);
  }

  private sendHealth(payload: HealthPayload): void {
    let body: string;
    try {
      body = JSON.stringify(payload);
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'health payload is not serialisable');
      return;
    }
    this.client.publish(this.client.topics.health, body, { qos: 1, retain: true }).catch((e: Error) => {
      this.pendingHealth ??= payload;
      this.log.debug({ err: e.message }, 'health publish failed');
    });
  }

  /** …/event (QoS 1); up to 100 are kept in memory while offline, oldest dropped first. */
  event(input: EventInput): void {
    const parsed = eventSchema.safeParse(input);
    if (!parsed.success) {
      this.log.warn({ issues: parsed.error.issues.length }, 'invalid event payload dropped');
      this.counters.eventsDropped++;
      return;
    }
    const ev = { ...parsed.data, timestamp: parsed.data.timestamp ?? Date.now() };
    if (!this.client.connected) {
      this.pendingEvents.push(ev);
      if (this.pendingEvents.length > MAX_PENDING_EVENTS) {
        this.pendingEvents.shift();
        this.counters.eventsDropped++;
      }
      return;
    }
    this.sendEvent(ev);
  }

  private sendEvent(ev: EventPayload): void {
    let body: string;
    try {
      body = JSON.stringify(ev);
    } catch {
      this.counters.eventsDropped++;
      return;
    }
    this.client.publish(this.client.topics.event, body, { qos: 1 }).catch(() => {
      this.counters.eventsDropped++;
    });
  }

  private connected(): void {
    if (!this.running) return;
    const h = this.pendingHealth;
    this.pendingHealth = undefined;
    if (h) this.sendHealth(h);
    const evs = this.pendingEvents;
    this.pendingEvents = [];
    for (const ev of evs) this.sendEvent(ev);
    this.pump();
  }

  private pump(): void {
    if (!this.running || !this.client.connected) return;
    for (;;) {
      const room = this.window - this.inflight.size;
      if (room <= 0) break;
      const ids = this.spool.nextIds(room, this.inflight);
      if (ids.length === 0) break;
      // records dropped as corrupt leave the spool, so this loop always makes progress
      for (const id of ids) this.send(id);
    }
    this.notifyIfDrained();
  }

  private send(id: number): void {
    // in flight from here, so pump() does not pick it again while it is read
    this.inflight.add(id);
    this.spool
      .read(id)
      .then((rec) => {
        if (rec && this.running) {
          this.sendRecord(rec);
          return;
        }
        // left the spool meanwhile (delivered, evicted, corrupt), or we were stopped: it stays for the next start
        this.inflight.delete(id);
        this.pump();
      })
      .catch((e: Error) => {
        this.inflight.delete(id);
        this.log.warn({ id, err: e.message }, 'spool read failed');
        this.scheduleRetry();
      });
  }

  private sendRecord(rec: SpoolRecord): void {
    const id = rec.id;
    let stream: string;
    try {
      stream = String((JSON.parse(rec.meta.toString('utf8')) as { stream: unknown }).stream);
    } catch {
      this.log.warn({ id }, 'spooled meta is not JSON; dropped');
      this.inflight.delete(id);
      this.spool.remove(id);
      this.pump();
      return;
    }
    const topics = this.client.topics;
    const sends = [this.client.publish(topics.resultMeta(stream), rec.meta, { qos: this.qos })];
    if (rec.image.length) sends.push(this.client.publish(topics.resultImage(stream), rec.image, { qos: this.qos }));
    Promise.all(sends)
      .then(() => {
        this.spool.remove(id);
        this.counters.published++;
      })
      .catch((e: unknown) => {
        const rc = (e as { code?: unknown }).code;
        if (typeof rc === 'number' && rc >= 0x80) {
          this.counters.refused++;
          this.spool.remove(id);
          this.log.warn({ id, reason: (e as Error).message }, 'broker refused result; dropped');
        } else {
          this.scheduleRetry();
        }
      })
      .finally(() => {
        this.inflight.delete(id);
        this.pump();
      });
  }

  private scheduleRetry(): void {
    if (this.retryTimer || !this.running) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.pump();
    }, RETRY_MS);
    this.retryTimer.unref();
  }

  private notifyIfDrained(): void {
    if (this.spool.count > 0 || this.inflight.size > 0) return;
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const f of w) f();
  }

  /** Resolves when the spool is empty and nothing is in flight. */
  drained(): Promise<void> {
    if (this.spool.count === 0 && this.inflight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  stats(): PublisherStats {
    return {
      mqtt: this.client.state(),
      spool: this.spool.stats(),
      published: this.counters.published,
      refused: this.counters.refused,
      inflight: this.inflight.size,
      lost: this.counters.lost,
      eventsDropped: this.counters.eventsDropped,
      accumulatedSkipped: this.counters.accumulatedSkipped,
    };
  }
}
