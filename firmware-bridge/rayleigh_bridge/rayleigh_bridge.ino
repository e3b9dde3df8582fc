/*
 * rayleigh_bridge — microcontroller side of rayleigh's stage/trigger bridge.
 *
 * Self-contained: needs only the Arduino AVR core (Debian: arduino-core-avr) and avr-libc, no
 * Firmata or AccelStepper library. It speaks the subset of Firmata 2.6 the host driver
 * (src/hardware/stage/firmata-stage.ts, through firmata.js) sends, with the AccelStepperFirmata
 * message layout of firmata/protocol accelStepperFirmata.md. The exact subset is in
 * ../README.md ("Protocol"); build with ../build.sh.
 *
 * Deliberate differences from ConfigurableFirmata's AccelStepperFirmata, all toward safety:
 *  - STOP halts at once AND forgets the speed (ConfigurableFirmata halts at once but AccelStepper
 *    keeps its speed, so the next move first coasts on in the old direction).
 *  - CONFIG leaves the driver disabled (AccelStepper::setEnablePin enables it).
 *  - At reset every pin is an input without pull-up: nothing is driven until the host says so.
 *  - Trigger pulses are timed in loop(), never with delay(), so stepping never stalls.
 *  - LIMIT (0x07, "not yet implemented" in ConfigurableFirmata) is implemented: a step toward a
 *    limit input in its limit state is not taken and the move ends at once, without waiting for
 *    the host to see the switch and send STOP.
 * Pulse timing (see ../README.md): DIR is set at least DIR_SETUP_US before a STEP rising edge and
 * STEP stays high STEP_HIGH_US, covering A4988 (1 µs / 200 ns), DRV8825 (1.9 µs / 650 ns) and
 * TMC2209 (100 ns / 20 ns).
 */
#include <Arduino.h>
#include <math.h>
#include <util/delay.h>

// ---- Firmata constants (firmata/protocol protocol.md, "Message Types" / "Sysex Message Format")
static const uint8_t DIGITAL_MESSAGE = 0x90;
static const uint8_t REPORT_ANALOG = 0xC0;
static const uint8_t REPORT_DIGITAL = 0xD0;
static const uint8_t ANALOG_MESSAGE = 0xE0;
static const uint8_t START_SYSEX = 0xF0;
static const uint8_t SET_PIN_MODE = 0xF4;
static const uint8_t SET_DIGITAL_PIN_VALUE = 0xF5;
static const uint8_t END_SYSEX = 0xF7;
static const uint8_t REPORT_VERSION = 0xF9;
static const uint8_t SYSTEM_RESET = 0xFF;
static const uint8_t QUERY_FIRMWARE = 0x79;
static const uint8_t PIN_MODE_INPUT = 0x00;
static const uint8_t PIN_MODE_OUTPUT = 0x01;
static const uint8_t PIN_MODE_PULLUP = 0x0B;
static const uint8_t PIN_MODE_STEPPER = 0x08;
static const uint8_t PIN_MODE_UNSET = 0x7F;

// ---- AccelStepperFirmata (firmata/protocol accelStepperFirmata.md, "Stepper 2.0")
static const uint8_t ACCELSTEPPER_DATA = 0x62;
static const uint8_t AS_CONFIG = 0x00;
static const uint8_t AS_ZERO = 0x01;
static const uint8_t AS_STEP = 0x02;
static const uint8_t AS_TO = 0x03;
static const uint8_t AS_ENABLE = 0x04;
static const uint8_t AS_STOP = 0x05;
static const uint8_t AS_REPORT_POSITION = 0x06;
static const uint8_t AS_LIMIT = 0x07;  // "not yet implemented" in ConfigurableFirmata; implemented here
static const uint8_t AS_SET_ACCELERATION = 0x08;
static const uint8_t AS_SET_SPEED = 0x09;
static const uint8_t AS_MOVE_COMPLETE = 0x0A;

// ---- this sketch's own sysex (user-defined range 0x01-0x0F)
static const uint8_t TRIGGER_PULSE = 0x01;

// ---- step timing, in µs (datasheet minimums in ../README.md; these hold with margin)
#define DIR_SETUP_US 1.0
#define STEP_HIGH_US 2.5
// the per-step speed update (sqrt, division) takes ~100 µs on a 16 MHz AVR; faster rates would
// only be requested, not delivered, so the top speed is capped and the cap is documented
static const float MAX_STEP_RATE = 4000.0f;
static const float NO_ACCEL = 1.0e6f;  // "acceleration 0" = reach the speed on the first step

static const uint8_t FIRMWARE_MAJOR = 2;
static const uint8_t FIRMWARE_MINOR = 0;
static const char FIRMWARE_NAME[] = "rayleigh_bridge";

#define MAX_STEPPERS 4
#define SYSEX_MAX 32
#define MAX_TRIGGERS 2

struct Pin {
  volatile uint8_t *out;
  volatile uint8_t *in;
  uint8_t mask;
};

struct Stepper {
  bool configured;
  bool running;
  bool stepInvert, dirInvert, enableInvert;
  uint8_t enablePin;  // 0xFF: none
  Pin step, dir, enable;
  int8_t dirLevel;    // direction the DIR pin currently encodes: +1, -1, 0 = not yet driven
  long pos;
  long target;
  float v;            // signed speed, steps/s
  float maxSpeed;
  float accel;
  // limit inputs (AS_LIMIT): a step toward a limit whose pin reads its limit state is not taken
  uint8_t lowerPin, upperPin;  // 0x7F: none
  uint8_t lowerState, upperState;
  Pin lower, upper;
  unsigned long lastStepUs;
  unsigned long intervalUs;  // until the next step; 0 = take the next step at once
};

struct Trigger {
  uint8_t pin;  // 0xFF: idle
  unsigned long startUs;
  unsigned long widthUs;
};

static Stepper steppers[MAX_STEPPERS];
static Trigger triggers[MAX_TRIGGERS];
static uint8_t pinMode_[NUM_DIGITAL_PINS];
static uint8_t reportPorts = 0;  // bit p: report digital port p (pins 8p..8p+7)
static uint8_t lastPortValue[(NUM_DIGITAL_PINS + 7) / 8];

static uint8_t sysex[SYSEX_MAX];
static uint8_t sysexLen = 0;
static bool inSysex = false;
static bool sysexOverflow = false;
static uint8_t cmd = 0;      // pending non-sysex command byte
static uint8_t data[2];
static uint8_t dataNeeded = 0, dataHave = 0;

// ---------------------------------------------------------------------------------- pins

static Pin pinRef(uint8_t p) {
  Pin r;
  uint8_t port = digitalPinToPort(p);
  r.out = portOutputRegister(port);
  r.in = portInputRegister(port);
  r.mask = digitalPinToBitMask(p);
  return r;
}

static inline void pinWrite(const Pin &p, bool high) {
  uint8_t s = SREG;
  cli();
  if (high) *p.out |= p.mask; else *p.out &= ~p.mask;
  SREG = s;
}

static bool usablePin(uint8_t p) {
  // 0 and 1 carry the serial link to the host
  return p >= 2 && p < NUM_DIGITAL_PINS;
}

static bool stepperOwns(uint8_t p) {
  return p < NUM_DIGITAL_PINS && pinMode_[p] == PIN_MODE_STEPPER;
}

// Leave a pin high-impedance: the safest state when we do not know what it drives.
static void floatPin(uint8_t p) {
  digitalWrite(p, LOW);  // also disconnects the pull-up while an input
  pinMode(p, INPUT);
}

// ---------------------------------------------------------------------------------- output

static void sendByte(uint8_t b) { Serial.write(b); }

static void sendVersion() {
  sendByte(REPORT_VERSION);
  sendByte(2);
  sendByte(6);
}

static void sendFirmware() {
  sendByte(START_SYSEX);
  sendByte(QUERY_FIRMWARE);
  sendByte(FIRMWARE_MAJOR);
  sendByte(FIRMWARE_MINOR);
  for (const char *c = FIRMWARE_NAME; *c; c++) {
    sendByte((uint8_t)*c & 0x7F);
    sendByte(((uint8_t)*c >> 7) & 0x7F);
  }
  sendByte(END_SYSEX);
}

// 32-bit signed integer, five 7-bit bytes, sign-magnitude with the sign in bit 3 of the last
static void sendLong(long v) {
  unsigned long m = v < 0 ? (unsigned long)(-v) : (unsigned long)v;
  sendByte(m & 0x7F);
  sendByte((m >> 7) & 0x7F);
  sendByte((m >> 14) & 0x7F);
  sendByte((m >> 21) & 0x7F);
  sendByte(((m >> 28) & 0x07) | (v < 0 ? 0x08 : 0));
}

static void sendPosition(uint8_t dev, bool complete) {
  sendByte(START_SYSEX);
  sendByte(ACCELSTEPPER_DATA);
  sendByte(complete ? AS_MOVE_COMPLETE : AS_REPORT_POSITION);
  sendByte(dev);
  sendLong(steppers[dev].pos);
  sendByte(END_SYSEX);
}

static uint8_t readPort(uint8_t port) {
  uint8_t v = 0;
  for (uint8_t i = 0; i < 8; i++) {
    uint8_t p = port * 8 + i;
    if (p >= NUM_DIGITAL_PINS) break;
    uint8_t m = pinMode_[p];
    if (m != PIN_MODE_INPUT && m != PIN_MODE_PULLUP) continue;
    Pin r = pinRef(p);
    if (*r.in & r.mask) v |= 1 << i;
  }
  return v;
}

static void sendPort(uint8_t port, uint8_t v) {
  sendByte(DIGITAL_MESSAGE | port);
  sendByte(v & 0x7F);
  sendByte((v >> 7) & 0x7F);
}

// Digital inputs are reported when they change, every loop: limit-switch latency is one loop
// plus three bytes on the wire.
static void scanInputs() {
  for (uint8_t port = 0; port < sizeof(lastPortValue); port++) {
    if (!(reportPorts & (1 << port))) continue;
    uint8_t v = readPort(port);
    if (v != lastPortValue[port]) {
      lastPortValue[port] = v;
      sendPort(port, v);
    }
  }
}

// ---------------------------------------------------------------------------------- reset

static void stepperDisable(Stepper &s) {
  if (s.enablePin != 0xFF) pinWrite(s.enable, s.enableInvert);  // inactive level
}

static void safeReset() {
  for (uint8_t i = 0; i < MAX_STEPPERS; i++) {
    Stepper &s = steppers[i];
    if (s.configured) stepperDisable(s);
    s.configured = false;
    s.running = false;
  }
  for (uint8_t i = 0; i < MAX_TRIGGERS; i++) triggers[i].pin = 0xFF;
  for (uint8_t p = 2; p < NUM_DIGITAL_PINS; p++) {
    floatPin(p);
    pinMode_[p] = PIN_MODE_UNSET;
  }
  reportPorts = 0;
  for (uint8_t i = 0; i < sizeof(lastPortValue); i++) lastPortValue[i] = 0;
}

// ---------------------------------------------------------------------------------- steppers

static float decodeFloat(const uint8_t *b) {
  long significand = (long)b[0] | ((long)b[1] << 7) | ((long)b[2] << 14) | ((long)(b[3] & 0x03) << 21);
  int exponent = ((b[3] >> 2) & 0x0F) - 11;
  float r = (float)significand * powf(10.0f, (float)exponent);
  return (b[3] >> 6) & 0x01 ? -r : r;
}

static long decodeLong(const uint8_t *b) {
  long m = (long)b[0] | ((long)b[1] << 7) | ((long)b[2] << 14) | ((long)b[3] << 21) | ((long)(b[4] & 0x07) << 28);
  return b[4] & 0x08 ? -m : m;
}

static void claimOutput(uint8_t p, bool level) {
  pinMode_[p] = PIN_MODE_STEPPER;
  digitalWrite(p, level ? HIGH : LOW);
  pinMode(p, OUTPUT);
}

static void configureStepper(uint8_t dev, const uint8_t *a, uint8_t n) {
  // a: interface, step, dir, [enable], [invert]
  if (n < 3) return;
  uint8_t iface = a[0];
  uint8_t wires = (iface >> 4) & 0x07;
  bool hasEnable = iface & 0x01;
  if (wires != 1) return;  // only STEP/DIR drivers
  uint8_t stepPin = a[1], dirPin = a[2];
  uint8_t enablePin = hasEnable && n >= 4 ? a[3] : 0xFF;
  uint8_t invert = n > (uint8_t)(hasEnable ? 4 : 3) ? a[hasEnable ? 4 : 3] : 0;
  if (!usablePin(stepPin) || !usablePin(dirPin) || (enablePin != 0xFF && !usablePin(enablePin))) return;
  Stepper &s = steppers[dev];
  if (s.configured) stepperDisable(s);
  s.configured = true;
  s.running = false;
  s.stepInvert = invert & 0x01;
  s.dirInvert = (invert >> 1) & 0x01;
  s.enableInvert = (invert >> 4) & 0x01;
  s.enablePin = enablePin;
  s.step = pinRef(stepPin);
  s.dir = pinRef(dirPin);
  s.dirLevel = 0;
  s.pos = 0;
  s.target = 0;
  s.v = 0;
  s.maxSpeed = 1.0f;
  s.accel = NO_ACCEL;
  s.intervalUs = 0;
  s.lowerPin = s.upperPin = 0x7F;
  claimOutput(stepPin, s.stepInvert);  // STEP idle (inactive level)
  claimOutput(dirPin, s.dirInvert);
  if (enablePin != 0xFF) {
    s.enable = pinRef(enablePin);
    claimOutput(enablePin, s.enableInvert);  // disabled until the host sends ENABLE
  }
}

static void startMove(Stepper &s, long target) {
  s.target = target;
  if (!s.running) {
    s.running = true;
    s.lastStepUs = micros();
    s.intervalUs = 0;
  }
}

static void stopStepper(uint8_t dev) {
  Stepper &s = steppers[dev];
  s.running = false;
  s.v = 0;
  s.target = s.pos;
  s.intervalUs = 0;
  sendPosition(dev, true);
}

static void handleStepper(const uint8_t *a, uint8_t n) {
  if (n < 2) return;
  uint8_t c = a[0], dev = a[1];
  if (dev >= MAX_STEPPERS) return;
  if (c == AS_CONFIG) {
    configureStepper(dev, a + 2, n - 2);
    return;
  }
  Stepper &s = steppers[dev];
  if (!s.configured) return;  // like AccelStepperFirmata: commands for unknown devices are ignored
  switch (c) {
    case AS_ZERO:
      s.pos = 0;
      s.target = 0;
      s.v = 0;
      break;
    case AS_STEP:
      if (n >= 7) startMove(s, s.pos + decodeLong(a + 2));
      break;
    case AS_TO:
      if (n >= 7) startMove(s, decodeLong(a + 2));
      break;
    case AS_ENABLE:
      if (n >= 3 && s.enablePin != 0xFF) pinWrite(s.enable, (a[2] != 0) != s.enableInvert);
      break;
    case AS_STOP:
      stopStepper(dev);
      break;
    case AS_REPORT_POSITION:
      sendPosition(dev, false);
      break;
    case AS_LIMIT:
      // lower pin, lower state, upper pin, upper state (accelStepperFirmata.md "Stepper limit")
      if (n >= 6) {
        s.lowerPin = usablePin(a[2]) ? a[2] : 0x7F;
        s.lowerState = a[3] ? 1 : 0;
        s.upperPin = usablePin(a[4]) ? a[4] : 0x7F;
        s.upperState = a[5] ? 1 : 0;
        if (s.lowerPin != 0x7F) s.lower = pinRef(s.lowerPin);
        if (s.upperPin != 0x7F) s.upper = pinRef(s.upperPin);
      }
      break;
    case AS_SET_ACCELERATION:
      if (n >= 6) {
        float acc = decodeFloat(a + 2);
        s.accel = acc > 0 ? acc : NO_ACCEL;
      }
      break;
    case AS_SET_SPEED:
      if (n >= 6) {
        float sp = decodeFloat(a + 2);
        if (sp > MAX_STEP_RATE) sp = MAX_STEP_RATE;
        if (sp > 0) s.maxSpeed = sp;
      }
      break;
  }
}

// One step of a constant-acceleration profile: the speed after the step follows
// v'^2 = v^2 ± 2a (one step of travel), the step takes 2 / (|v| + |v'|) seconds (exact for
// constant acceleration). Decelerate while moving away from the target or when the stopping
// distance v^2 / 2a reaches the distance left.
static void planStep(Stepper &s, long togo) {
  float a = s.accel;
  float v = s.v;
  float speed = fabs(v);
  int8_t dirNow = v > 0 ? 1 : (v < 0 ? -1 : (togo > 0 ? 1 : -1));
  bool decel = speed > 0 && ((togo > 0) != (v > 0) || speed * speed / (2 * a) >= (float)labs(togo));
  float next;
  if (decel) {
    float q = speed * speed - 2 * a;
    next = q > 0 ? sqrtf(q) : 0;
  } else {
    next = sqrtf(speed * speed + 2 * a);
    if (next > s.maxSpeed) next = s.maxSpeed;
  }
  // near standstill a step takes as long as from rest (sqrt(2/a)), never longer; never faster
  // than maxSpeed
  float avg = (speed + next) / 2;
  float fromRest = sqrtf(2 * a) / 2;
  if (avg < fromRest) avg = fromRest;
  if (avg > s.maxSpeed) avg = s.maxSpeed;
  s.intervalUs = (unsigned long)(1.0e6f / avg);
  s.v = dirNow * next;
}

static void emitStep(Stepper &s, int8_t dir) {
  if (dir != s.dirLevel) {
    pinWrite(s.dir, (dir > 0) != s.dirInvert);
    s.dirLevel = dir;
    _delay_us(DIR_SETUP_US);
  }
  pinWrite(s.step, !s.stepInvert);
  _delay_us(STEP_HIGH_US);
  pinWrite(s.step, s.stepInvert);
  s.pos += dir;
}

static bool atLimit(const Stepper &s, int8_t dir) {
  if (dir < 0 && s.lowerPin != 0x7F) return ((*s.lower.in & s.lower.mask) != 0) == (s.lowerState != 0);
  if (dir > 0 && s.upperPin != 0x7F) return ((*s.upper.in & s.upper.mask) != 0) == (s.upperState != 0);
  return false;
}

static void runSteppers() {
  for (uint8_t i = 0; i < MAX_STEPPERS; i++) {
    Stepper &s = steppers[i];
    if (!s.configured || !s.running) continue;
    unsigned long now = micros();
    if (s.intervalUs != 0 && now - s.lastStepUs < s.intervalUs) continue;
    long togo = s.target - s.pos;
    if (togo == 0 && fabs(s.v) * fabs(s.v) / (2 * s.accel) < 1.0f) {
      s.running = false;
      s.v = 0;
      s.intervalUs = 0;
      sendPosition(i, true);
      continue;
    }
    int8_t dir = s.v > 0 ? 1 : (s.v < 0 ? -1 : (togo > 0 ? 1 : -1));
    if (atLimit(s, dir)) {
      // halt at once, like STOP; the switch's port report goes out before the move complete so
      // the host sees why the move ended
      s.running = false;
      s.v = 0;
      s.target = s.pos;
      s.intervalUs = 0;
      scanInputs();
      sendPosition(i, true);
      continue;
    }
    emitStep(s, dir);
    s.lastStepUs = now;
    planStep(s, s.target - s.pos);
  }
}

// ---------------------------------------------------------------------------------- trigger

static void handleTrigger(const uint8_t *a, uint8_t n) {
  if (n < 4) return;
  uint8_t pin = a[0];
  // only a pin the host made an output (never a stepper's or an input)
  if (!usablePin(pin) || pinMode_[pin] != PIN_MODE_OUTPUT) return;
  unsigned long width = (unsigned long)a[1] | ((unsigned long)a[2] << 7) | ((unsigned long)a[3] << 14);
  if (width > 2000000UL) width = 2000000UL;
  uint8_t slot = 0xFF;
  for (uint8_t i = 0; i < MAX_TRIGGERS; i++) {
    if (triggers[i].pin == pin) return;  // already pulsing: ignore
    if (triggers[i].pin == 0xFF && slot == 0xFF) slot = i;
  }
  if (slot == 0xFF) return;
  triggers[slot].pin = pin;
  triggers[slot].widthUs = width;
  triggers[slot].startUs = micros();
  digitalWrite(pin, HIGH);
  sendByte(START_SYSEX);
  sendByte(TRIGGER_PULSE);
  sendByte(pin);
  sendByte(0);
  sendByte(END_SYSEX);
}

static void runTriggers() {
  for (uint8_t i = 0; i < MAX_TRIGGERS; i++) {
    Trigger &t = triggers[i];
    if (t.pin == 0xFF) continue;
    if (micros() - t.startUs >= t.widthUs) {
      digitalWrite(t.pin, LOW);
      t.pin = 0xFF;
    }
  }
}

// ---------------------------------------------------------------------------------- input

static void setPinMode(uint8_t p, uint8_t mode) {
  if (!usablePin(p) || stepperOwns(p)) return;  // a stepper's pins stay the stepper's
  if (mode == PIN_MODE_INPUT) {
    floatPin(p);
  } else if (mode == PIN_MODE_PULLUP) {
    pinMode(p, INPUT_PULLUP);
  } else if (mode == PIN_MODE_OUTPUT) {
    digitalWrite(p, LOW);
    pinMode(p, OUTPUT);
  } else {
    return;
  }
  pinMode_[p] = mode;
  uint8_t port = p / 8;
  if (port < sizeof(lastPortValue)) lastPortValue[port] = 0xFF;  // force a report of the new state
}

static void writePort(uint8_t port, uint8_t value) {
  for (uint8_t i = 0; i < 8; i++) {
    uint8_t p = port * 8 + i;
    if (p >= NUM_DIGITAL_PINS) break;
    if (pinMode_[p] == PIN_MODE_OUTPUT) digitalWrite(p, (value >> i) & 1 ? HIGH : LOW);
  }
}

static void handleSysex() {
  if (sysexLen == 0 || sysexOverflow) return;
  uint8_t c = sysex[0];
  if (c == QUERY_FIRMWARE) sendFirmware();
  else if (c == ACCELSTEPPER_DATA) handleStepper(sysex + 1, sysexLen - 1);
  else if (c == TRIGGER_PULSE) handleTrigger(sysex + 1, sysexLen - 1);
  // anything else (capability queries, sampling interval...) is not part of the subset: ignored
}

static void handleCommand() {
  uint8_t c = cmd & 0xF0;
  if (cmd == SET_PIN_MODE) setPinMode(data[0], data[1]);
  else if (cmd == SET_DIGITAL_PIN_VALUE) {
    if (usablePin(data[0]) && pinMode_[data[0]] == PIN_MODE_OUTPUT) digitalWrite(data[0], data[1] ? HIGH : LOW);
  } else if (c == DIGITAL_MESSAGE) {
    writePort(cmd & 0x0F, data[0] | (data[1] << 7));
  } else if (c == REPORT_DIGITAL) {
    uint8_t port = cmd & 0x0F;
    if (port < sizeof(lastPortValue)) {
      if (data[0]) {
        reportPorts |= 1 << port;
        lastPortValue[port] = readPort(port);
        sendPort(port, lastPortValue[port]);
      } else {
        reportPorts &= ~(1 << port);
      }
    }
  }
  // REPORT_ANALOG / ANALOG_MESSAGE: parsed for framing, otherwise ignored
}

static void parse(uint8_t b) {
  if (inSysex) {
    if (b == END_SYSEX) {
      inSysex = false;
      handleSysex();
    } else if (b & 0x80) {
      inSysex = false;  // a command byte inside a sysex: the sysex was cut, drop it
      parse(b);
    } else if (sysexLen < SYSEX_MAX) {
      sysex[sysexLen++] = b;
    } else {
      sysexOverflow = true;
    }
    return;
  }
  if (b & 0x80) {
    dataNeeded = 0;
    dataHave = 0;
    uint8_t c = b & 0xF0;
    if (b == START_SYSEX) {
      inSysex = true;
      sysexLen = 0;
      sysexOverflow = false;
    } else if (b == REPORT_VERSION) {
      sendVersion();
    } else if (b == SYSTEM_RESET) {
      safeReset();
    } else if (b == SET_PIN_MODE || b == SET_DIGITAL_PIN_VALUE || c == DIGITAL_MESSAGE || c == ANALOG_MESSAGE) {
      cmd = b;
      dataNeeded = 2;
    } else if (c == REPORT_DIGITAL || c == REPORT_ANALOG) {
      cmd = b;
      dataNeeded = 1;
    }
    return;
  }
  if (dataHave < dataNeeded) {
    data[dataHave++] = b;
    if (dataHave == dataNeeded) {
      handleCommand();
      dataNeeded = 0;
    }
  }
}

// ---------------------------------------------------------------------------------- main

void setup() {
  for (uint8_t i = 0; i < MAX_STEPPERS; i++) steppers[i].configured = false;
  safeReset();
  Serial.begin(57600);
  sendVersion();
  sendFirmware();
}

void loop() {
  runSteppers();
  // bounded: a burst of host bytes must not starve the step timing
  for (uint8_t i = 0; i < 8 && Serial.available(); i++) parse((uint8_t)Serial.read());
  runSteppers();
  scanInputs();
  runTriggers();
}
