import { z } from 'zod';
import { remote } from './remote.ts';

export const healthSchema = z
  .strictObject({
    /** seconds between retained …/health publications */
    interval: remote(z.number().positive().max(3600).default(10)),
  })
  .prefault({});

export const webSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    host: z.string().default('127.0.0.1'),
    /** 0 = pick a free port */
    port: z.number().int().min(0).max(65535).default(8380),
    /** required when host is not loopback; prefer RAYLEIGH_WEB__TOKEN */
    token: z.string().optional(),
  })
  .prefault({});

export const systemdSchema = z
  .strictObject({
    /** send READY/WATCHDOG/STOPPING when NOTIFY_SOCKET is set */
    notify: z.boolean().default(true),
    /** seconds without a processed frame before the watchdog stops petting (while streaming) */
    stallSeconds: z.number().positive().default(30),
  })
  .prefault({});
