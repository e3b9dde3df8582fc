/**
 * Minimum STEP/DIR timing of the drivers the stage is meant for, in ns. The GPIO stepper waits
 * these out in code; the firmware bridge's loop meets them by construction (firmware-bridge/).
 */
export interface StepPulseTiming {
  /** STEP high at least this long */
  highNs: number;
  /** STEP low at least this long between pulses */
  lowNs: number;
  /** DIR stable at least this long before a STEP rising edge */
  dirSetupNs: number;
  /** DIR held at least this long after a STEP rising edge */
  dirHoldNs: number;
}

export const DRIVER_STEP_TIMING: Record<'a4988' | 'drv8825' | 'tmc2209', StepPulseTiming> = {
  // Allegro A4988 datasheet, "Timing Requirements" (Figure 1, logic interface timing): A/B minimum
  // STEP high/low 1 µs, C setup 200 ns, D hold 200 ns
  a4988: { highNs: 1000, lowNs: 1000, dirSetupNs: 200, dirHoldNs: 200 },
  // TI DRV8825 datasheet (SLVSA73), "Timing Requirements": tWH(STEP) / tWL(STEP) 1.9 µs,
  // tSU(STEP) 650 ns, tH(STEP) 650 ns
  drv8825: { highNs: 1900, lowNs: 1900, dirSetupNs: 650, dirHoldNs: 650 },
  // ASSUMPTION: Trinamic TMC2209 datasheet Rev 1.09, "Electrical Characteristics" STEP/DIR timing:
  // tSH / tSL ≥ max(tCLK + 20 ns, 100 ns) (tCLK ≈ 83 ns at the internal 12 MHz), tDSU / tDSH 20 ns.
  // Taken from memory of that table, not re-read here; the section named settles it.
  tmc2209: { highNs: 103, lowNs: 103, dirSetupNs: 20, dirHoldNs: 20 },
};

/** The strictest of the three, so a config need not say which driver is fitted. */
export const SAFE_STEP_TIMING: StepPulseTiming = {
  highNs: Math.max(...Object.values(DRIVER_STEP_TIMING).map((t) => t.highNs)),
  lowNs: Math.max(...Object.values(DRIVER_STEP_TIMING).map((t) => t.lowNs)),
  dirSetupNs: Math.max(...Object.values(DRIVER_STEP_TIMING).map((t) => t.dirSetupNs)),
  dirHoldNs: Math.max(...Object.values(DRIVER_STEP_TIMING).map((t) => t.dirHoldNs)),
};
