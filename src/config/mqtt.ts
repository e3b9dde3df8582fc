import { z } from 'zod';

export const mqttSchema = z
  .object({
    /** broker URL (mqtt://, mqtts://, ws://, wss://); absent = embedded broker on 127.0.0.1 */
    url: z.string().url().optional(),
    embedded: z
      .object({
        host: z.string().default('127.0.0.1'),
        /** 0 = pick a free port */
        port: z.number().int().min(0).max(65535).default(1883),
      })
      .prefault({}),
    /** topic prefix; the device id is appended: <prefix>/<deviceId>/… */
    prefix: z.string().regex(/^[^#+]+$/).default('rayleigh'),
    clientId: z.string().optional(),
    protocolVersion: z.union([z.literal(5), z.literal(4)]).default(5),
    username: z.string().optional(),
    /** prefer passwordFile or RAYLEIGH_MQTT__PASSWORD; never logged */
    password: z.string().optional(),
    passwordFile: z.string().optional(),
    tls: z
      .object({
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
    spool: z
      .object({
        /** relative to stateDir unless absolute */
        dir: z.string().default('spool'),
        maxBytes: z.number().int().min(1024).default(256 * 1024 * 1024),
        maxCount: z.number().int().min(1).default(10000),
      })
      .prefault({}),
    homeassistant: z
      .object({
        enabled: z.boolean().default(false),
        prefix: z.string().default('homeassistant'),
      })
      .prefault({}),
    commands: z
      .object({
        enabled: z.boolean().default(true),
        /** command names refused with an error response */
        disabled: z.array(z.string()).default([]),
      })
      .prefault({}),
  })
  .prefault({});

export type MqttConfig = z.output<typeof mqttSchema>;
