/*
 * rayleigh_bridge — microcontroller side of rayleigh's stage/trigger bridge.
 *
 * ConfigurableFirmata with only the features the host uses:
 *   DigitalInputFirmata   limit switches (reported on change, host enables per port)
 *   DigitalOutputFirmata  general outputs
 *   AccelStepperFirmata   STEP/DIR/ENABLE drivers, timed here rather than on the host
 *   TriggerOutput         camera exposure trigger pulses (custom sysex 0x01, see README)
 *
 * ConfigurableFirmata's feature API has shifted between releases (e.g. report()/update()
 * signatures); written against 2.10/3.x.
 *
 * NOT COMPILED in the rayleigh repository (no Arduino toolchain on the build machine): build it
 * with arduino-cli as described in README.md before relying on it.
 */
#include <ConfigurableFirmata.h>

#include <DigitalInputFirmata.h>
DigitalInputFirmata digitalInput;

#include <DigitalOutputFirmata.h>
DigitalOutputFirmata digitalOutput;

#include <AccelStepperFirmata.h>
AccelStepperFirmata accelStepper;

#include <FirmataExt.h>
FirmataExt firmataExt;

#include <FirmataReporting.h>
FirmataReporting reporting;

// ---- camera trigger outputs -------------------------------------------------------------
// Sysex TRIGGER_PULSE (0x01, in the user-defined range 0x01-0x0F):
//   F0 01 <pin> <width_us bits 0-6> <bits 7-13> <bits 14-20> F7
// Drives <pin> high for width_us microseconds (blocking; at most ~2 s) and answers
//   F0 01 <pin> 00 F7
// so the host can timestamp the exposure start.
static const byte TRIGGER_PULSE = 0x01;
static const byte TRIGGER_PINS[] = {8, 9};

class TriggerOutput : public FirmataFeature {
public:
  void handleCapability(byte pin) override {}
  boolean handlePinMode(byte pin, int mode) override { return false; }
  boolean handleSysex(byte command, byte argc, byte *argv) override {
    if (command != TRIGGER_PULSE || argc < 4) return false;
    byte pin = argv[0];
    bool allowed = false;
    for (byte p : TRIGGER_PINS) allowed |= (p == pin);
    if (!allowed) return true;  // consumed but ignored: only dedicated trigger pins may pulse
    unsigned long width = (unsigned long)argv[1] | ((unsigned long)argv[2] << 7) | ((unsigned long)argv[3] << 14);
    if (width > 2000000UL) width = 2000000UL;
    pinMode(pin, OUTPUT);
    digitalWrite(pin, HIGH);
    if (width > 16000UL) delay(width / 1000UL); else delayMicroseconds(width);
    digitalWrite(pin, LOW);
    byte reply[] = {pin, 0};
    Firmata.sendSysex(TRIGGER_PULSE, 2, reply);
    return true;
  }
  void reset() override {
    for (byte p : TRIGGER_PINS) { pinMode(p, OUTPUT); digitalWrite(p, LOW); }
  }
};
TriggerOutput trigger;

void systemResetCallback() {
  for (byte i = 0; i < TOTAL_PINS; i++) {
    if (IS_PIN_DIGITAL(i)) Firmata.setPinMode(i, PIN_MODE_OUTPUT);
  }
  firmataExt.reset();
}

void initFirmata() {
  firmataExt.addFeature(digitalInput);
  firmataExt.addFeature(digitalOutput);
  firmataExt.addFeature(accelStepper);
  firmataExt.addFeature(reporting);
  firmataExt.addFeature(trigger);
  Firmata.attach(SYSTEM_RESET, systemResetCallback);
}

void setup() {
  Firmata.setFirmwareNameAndVersion("rayleigh_bridge", 1, 0);
  initFirmata();
  Firmata.begin(57600);
  Firmata.parse(SYSTEM_RESET);
}

void loop() {
  // limit switches are reported as soon as they change, not only on the sampling tick
  digitalInput.report();
  while (Firmata.available()) Firmata.processInput();
  // AccelStepper needs run() as often as possible to time the pulses
  accelStepper.update();
}
