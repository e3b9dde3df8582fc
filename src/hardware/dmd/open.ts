/** Opens the configured DMD end to end: bus (Linux or simulated), framebuffer, driver. */
import type { Logger } from '../../log.ts';
import type { FaultRegistry } from '../faults.ts';
import { type I2cBus, openI2cBus } from '../i2c/bus.ts';
import { createSimDmdRig, type SimDmdRig } from '../sim/dmd-rig.ts';
import { createDmd, type DmdConfig } from './index.ts';
import type { Dmd } from './types.ts';
import { LinuxFramebuffer, VideoPort } from './video-port.ts';

export interface OpenedDmd {
  dmd: Dmd;
  bus: I2cBus;
  /** present when the DMD is simulated */
  sim?: SimDmdRig;
}

export async function openDmd(cfg: DmdConfig, log?: Logger, faults?: FaultRegistry): Promise<OpenedDmd | null> {
  if (cfg.type === 'none') return null;
  if (cfg.bus === 'sim') {
    const sim = createSimDmdRig(cfg, log, faults);
    return { dmd: sim.dmd, bus: sim.bus, sim };
  }
  const videoPort = cfg.framebuffer ? new VideoPort(await LinuxFramebuffer.open(cfg.framebuffer)) : undefined;
  const bus = await openI2cBus(cfg.bus, { timeoutMs: cfg.timeoutMs });
  const dmd = createDmd(cfg, bus, log, { videoPort, faults });
  if (!dmd) return null;
  return { dmd, bus };
}
