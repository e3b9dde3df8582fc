/**
 * The AccelStepperFirmata values the driver builds itself (firmata.js encodes everything else), as
 * specified in firmata/protocol accelStepperFirmata.md ("Stepper 2.0", protocol 2.6.0). The
 * simulated firmware (src/hardware/sim/firmata-device.ts) keeps its own copy from the same
 * document, so a wrong value here meets a device that reads the documented one.
 */
export const ACCELSTEPPER_DATA = 0x62;

export const ACCELSTEPPER = {
  CONFIG: 0x00,
  ZERO: 0x01,
  STEP: 0x02,
  TO: 0x03,
  ENABLE: 0x04,
  STOP: 0x05,
  REPORT_POSITION: 0x06,
  LIMIT: 0x07,
  SET_ACCELERATION: 0x08,
  SET_SPEED: 0x09,
  MOVE_COMPLETE: 0x0a,
} as const;

/**
 * Largest value the custom float can carry (23-bit significand, exponent at most 10^4). firmata.js
 * does not range-check: 100000 silently becomes 1e-11 on the wire, so the host clamps.
 */
export const FLOAT_MAX = 83886;
