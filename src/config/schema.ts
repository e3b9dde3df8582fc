import { z } from 'zod';
import { cameraSchema } from './camera.ts';
import { hardwareSchema } from './hardware.ts';
import { healthSchema, systemdSchema, webSchema } from './health.ts';
import { DEFAULT_STATE_DIR } from './install-paths.ts';
import { mqttSchema } from './mqtt.ts';
import { inferenceSchema, pipelineSchema } from './pipeline.ts';
import { remote } from './remote.ts';

export const settingsSchema = z.strictObject({
  device: z
    .strictObject({
      /** unique per device; appears in every topic */
      id: z
        .string()
        .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only')
        .default('sim01'),
      name: remote(z.string().max(200).default('rayleigh simulated instrument')),
    })
    .prefault({}),
  log: z
    .strictObject({ level: remote(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')) })
    .prefault({}),
  /** spool, calibration and other state; default state/ of the installation; /var/lib/rayleigh under systemd */
  stateDir: z.string().default(DEFAULT_STATE_DIR),
  camera: cameraSchema,
  pipeline: pipelineSchema,
  inference: inferenceSchema,
  mqtt: mqttSchema,
  hardware: hardwareSchema,
  health: healthSchema,
  web: webSchema,
  systemd: systemdSchema,
});

export type Settings = z.output<typeof settingsSchema>;
export type SettingsInput = z.input<typeof settingsSchema>;
