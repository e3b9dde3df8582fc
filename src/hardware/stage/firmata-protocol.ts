/**
 * Firmata constants and AccelStepperFirmata value encodings, as specified in
 * firmata/protocol accelStepperFirmata.md ("Stepper 2.0", protocol 2.6.0). Used by the simulated
 * firmware and by tests to check the exact bytes the host puts on the wire.
 */
export const START_SYSEX = 0xf0;
export const END_SYSEX = 0xf7;
export const REPORT_VERSION = 0xf9;
export const QUERY_FIRMWARE = 0x79;
export const SET_PIN_MODE = 0xf4;
export const DIGITAL_MESSAGE = 0x90;
export const REPORT_DIGITAL = 0xd0;
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

/** interface byte, upper 3 bits: wire count; 1 = step + direction driver */
export const INTERFACE_DRIVER = 0x1;

/** 32-bit signed integer as five 7-bit bytes, sign in bit 3 of the last (magnitude, not two's complement) */
export function encodeInt32(v: number): number[] {
  const m = Math.abs(Math.trunc(v));
  const out = [m & 0x7f, (m >>> 7) & 0x7f, (m >>> 14) & 0x7f, (m >>> 21) & 0x7f, (m >>> 28) & 0x07];
  if (v < 0) out[4] |= 0x08;
  return out;
}

export function decodeInt32(b: ArrayLike<number>): number {
  const m = (b[0] & 0x7f) | ((b[1] & 0x7f) << 7) | ((b[2] & 0x7f) << 14) | ((b[3] & 0x7f) << 21) | ((b[4] & 0x07) * 2 ** 28);
  return b[4] & 0x08 ? -m : m;
}

/**
 * Largest value the custom float can carry (23-bit significand, exponent at most 10^4). firmata.js
 * does not range-check: 100000 silently becomes 1e-11 on the wire, so the host clamps.
 */
export const FLOAT_MAX = 83886;

/** custom float: 23-bit significand, 4-bit base-10 exponent biased by -11, sign bit (four 7-bit bytes) */
export function decodeFloat(b: ArrayLike<number>): number {
  const significand = b[0] | (b[1] << 7) | (b[2] << 14) | ((b[3] & 0x03) << 21);
  const exponent = ((b[3] >> 2) & 0x0f) - 11;
  const sign = (b[3] >> 6) & 0x01 ? -1 : 1;
  return sign * significand * 10 ** exponent;
}
