import { z } from 'zod';
import { remote } from './remote.ts';

export const mqttSchema = z
  .strictObject({
    /** broker URL (mqtt://, mqtts://, ws://, wss://); absent = embedded broker on 127.0.0.1 */
    url: z.string().url().optional(),
    embedded: z
      .strictObject({
        host: z.string().default('127.0.0.1'),
        /** 0 = pick a free port */
        port: z.number().int().min(0).max(65535).default(1883),
      })
      .prefault({}),
    /** topic prefix; the device id is appended: <prefix>/<deviceId>/… */
    prefix: z
      .string()
      .regex(/^[^#+]+$/)
      .default('rayleigh'),
    clientId: z.string().optional(),
    protocolVersion: z.union([z.literal(5), z.literal(4)]).default(5),
    username: z.string().optional(),
    /** prefer passwordFile or RAYLEIGH_MQTT__PASSWORD; never logged */
    password: z.string().optional(),
    passwordFile: z.string().optional(),
    tls: z
      .strictObject({
        ca: z.string().optional(),
        cert: z.string().optional(),
        key: z.string().optional(),
        rejectUnauthorized: z.boolean().default(true),
      })
      .prefault({}),
    /** plaintext to a non-loopback broker is refused unless this is true */
    allowInsecureRemote: z.boolean().default(false),
    keepalive: z.number().int().min(5).max(3600).default(30),
    reconnectPeriodMs: z.number().int().min(100).default(2000),
    /**
     * reconnect delay doubles after each failed attempt up to this; it bounds how long the device
     * stays offline once the broker is back
     */
    reconnectMaxMs: z.number().int().min(100).max(60_000).default(5000),
    results: remote(
      z.strictObject({
        /** QoS of …/result/<stream>/meta and …/image; 1 = at least once, delivered from the spool */
        qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).default(1),
        /** records published before waiting for acknowledgements */
        inflight: z.number().int().min(1).max(1000).default(8),
        /**
         * average bytes/s a stream may publish (meta, image, accumulated render); images and
         * renders wait for room, localisations are never held back
         */
        maxBytesPerSecond: z.number().int().min(1024).max(1e9).default(1_000_000),
      }),
    ).prefault({}),
    spool: z
      .strictObject({
        /** relative to stateDir unless absolute */
        dir: z.string().default('spool'),
        /** must hold at least one whole result (meta + image): 1 MiB is the floor, size it to the frames */
        maxBytes: z
          .number()
          .int()
          .min(1024 * 1024, 'mqtt.spool.maxBytes must hold at least one whole result: 1 MiB or more')
          .default(256 * 1024 * 1024),
        maxCount: z.number().int().min(1).default(10000),
        /**
         * what a kill -9 or power cut can lose: `batch` = at most the last batchMs of results (one
         * fsync per batch, spares SD cards), `record` = nothing that was spooled (fsync per write)
         */
        durability: z.enum(['batch', 'record']).default('batch'),
        batchMs: z.number().int().min(10).max(10_000).default(250),
        /** a batch is written early once this many results wait */
        batchRecords: z.number().int().min(1).max(10_000).default(64),
      })
      .prefault({}),
    homeassistant: z
      .strictObject({
        enabled: z.boolean().default(false),
        prefix: z.string().default('homeassistant'),
      })
      .prefault({}),
    commands: z
      .strictObject({
        enabled: z.boolean().default(true),
        /** command names refused with an error response */
        disabled: z.array(z.string()).default([]),
        /** larger request payloads are answered with an error */
        maxPayloadBytes: z
          .number()
          .int()
          .min(64)
          .default(64 * 1024),
        /** a handler still running after this is answered with an error */
        timeoutMs: z.number().int().min(100).default(120_000),
        /** valid requests waiting behind the running one; more are refused as busy */
        maxQueue: z.number().int().min(1).default(100),
        /**
         * `restart` over MQTT. Off unless the config file (or environment) turns it on: a
         * restart re-reads files an attacker may not control, and is never a remote decision.
         */
        allowRestart: z.boolean().default(false),
        /** `set_config` with `persist: true` (writes the config file). Off unless turned on locally. */
        allowPersist: z.boolean().default(false),
      })
      .prefault({}),
  })
  .prefault({});

export type MqttConfig = z.output<typeof mqttSchema>;
