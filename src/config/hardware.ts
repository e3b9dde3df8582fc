import { z } from 'zod';

/** I2C bus number on the board, or "sim" for the simulated bus with device models. */
const busRef = z.union([z.number().int().min(0), z.literal('sim')]);

export const dmdSchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('none') }),
    z.strictObject({
      type: z.enum(['dlpc900', 'dlpc347x']),
      bus: busRef.default('sim'),
      /** 7-bit address; default per controller (0x1A DLPC900, 0x1B DLPC347x) */
      address: z.number().int().min(0x03).max(0x77).optional(),
      /** framebuffer device for the video-port path, e.g. /dev/fb1 */
      framebuffer: z.string().optional(),
      width: z.number().int().positive().optional(),
      height: z.number().int().positive().optional(),
      ledCurrent: z.number().int().min(0).max(255).default(100),
      timeoutMs: z.number().int().min(10).default(500),
      /** DLPC900 pattern image encoding: enhanced RLE (smallest for point masks), plain RLE or uncompressed */
      compression: z.enum(['erle', 'rle', 'none']).default('erle'),
      /** DLPC900 controllers: 2 for dual-controller DMDs (DLP9000 / LightCrafter 9000, DLP670S) */
      controllers: z.union([z.literal(1), z.literal(2)]).default(1),
      /** DLPC900 pattern exposure in µs (the single pattern repeats indefinitely) */
      exposureUs: z.number().int().min(1).max(0xffffff).default(100000),
      /**
       * DMD mirror → camera pixel registration (from `rayleigh calibrate`); camera = A·(mirror+½) + b.
       * Absent: the whole mirror array is fitted, centred, into the camera frame.
       */
      mapping: z
        .strictObject({
          scale: z.number().positive().optional(),
          matrix: z.tuple([z.number(), z.number(), z.number(), z.number()]).optional(),
          offsetX: z.number().default(0),
          offsetY: z.number().default(0),
        })
        .optional(),
      /** photons per lit mirror reaching the (simulated) camera */
      photonsPerMirror: z.number().positive().default(5000),
    }),
  ])
  .prefault({ type: 'dlpc900' });

const axis = z.strictObject({
  stepPin: z.number().int().min(0),
  dirPin: z.number().int().min(0),
  enablePin: z.number().int().min(0).optional(),
  limitPin: z.number().int().min(0).optional(),
  stepsPerUm: z.number().positive().default(1),
  microstep: z.number().int().min(1).max(256).default(16),
  minUm: z.number().default(0),
  maxUm: z.number().default(10000),
  maxSpeedUmS: z.number().positive().default(2000),
  accelUmS2: z.number().positive().default(10000),
  homeDirection: z.enum(['min', 'max']).default('min'),
  /** limit switch wired to ground with a pull-up: pressed reads electrically low */
  limitActiveLow: z.boolean().default(false),
  /** how far homing backs off the switch before the slow re-approach */
  homeBackoffUm: z.number().positive().default(100),
  /** most drivers (A4988, DRV8825, TMC2209) enable the output stage when ENABLE is low */
  enableActiveLow: z.boolean().default(true),
  /**
   * Absolute moves before homing: soft limits mean nothing until the axis knows where it is, so
   * they are refused unless this is true (for an axis without a switch); the stage warns on every
   * such move.
   */
  allowUnhomedMoves: z.boolean().default(false),
});

export type StageAxisConfig = z.output<typeof axis>;

export const stageSchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('none') }),
    z.strictObject({
      type: z.literal('gpio'),
      /** "sim" runs against simulated GPIO lines and a stage model */
      chip: z.union([z.literal('sim'), z.literal('sysfs')]).default('sim'),
      axes: z.record(z.string(), axis).default({}),
      debounceMs: z.number().min(0).default(5),
      motionTimeoutMs: z.number().int().min(100).default(30000),
    }),
    z.strictObject({
      type: z.literal('firmata'),
      /** serial port, e.g. /dev/ttyACM0, or "sim" for the protocol-level fake */
      port: z.string().default('sim'),
      axes: z.record(z.string(), axis).default({}),
      motionTimeoutMs: z.number().int().min(100).default(30000),
    }),
  ])
  .prefault({ type: 'none' });

export const hardwareSchema = z
  .strictObject({
    dmd: dmdSchema,
    stage: stageSchema,
  })
  .prefault({});

export type HardwareConfig = z.output<typeof hardwareSchema>;
export type StageConfig = z.output<typeof stageSchema>;
