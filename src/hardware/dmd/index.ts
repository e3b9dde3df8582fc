/**
 * Builds the configured DMD driver on a given bus. `openDmd` (src/hardware/dmd/open.ts) also opens
 * the bus (real or simulated) and the framebuffer.
 */
import type { HardwareConfig } from '../../config/hardware.ts';
import type { Logger } from '../../log.ts';
import type { FaultRegistry } from '../faults.ts';
import type { I2cBus } from '../i2c/bus.ts';
import { Dlpc347x } from './dlpc347x.ts';
import { Dlpc900 } from './dlpc900.ts';
import type { Dmd } from './types.ts';
import type { VideoPort } from './video-port.ts';

export type DmdConfig = HardwareConfig['dmd'];

export interface CreateDmdOptions {
  videoPort?: VideoPort;
  faults?: FaultRegistry;
}

/** null when the config says there is no DMD. */
export function createDmd(cfg: DmdConfig, bus: I2cBus, log?: Logger, opts: CreateDmdOptions = {}): Dmd | null {
  if (cfg.type === 'none') return null;
  const common = {
    address: cfg.address,
    width: cfg.width,
    height: cfg.height,
    ledCurrent: cfg.ledCurrent,
    device: 'dmd',
    faults: opts.faults,
    log,
  };
  if (cfg.type === 'dlpc900') {
    return new Dlpc900(bus, { ...common, compression: cfg.compression, exposureUs: cfg.exposureUs, controllers: cfg.controllers });
  }
  return new Dlpc347x(bus, { ...common, videoPort: opts.videoPort });
}

export type { Dmd, DmdStatus } from './types.ts';
