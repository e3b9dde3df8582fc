/**
 * A complete simulated DMD: simulated I2C bus, the controller model at its address (and, for the
 * DLPC347x, a memory framebuffer feeding its video port), and the real driver on top. The daemon
 * and tests use it wherever hardware.dmd.bus is "sim".
 */
import type { Logger } from '../../log.ts';
import type { Emitter } from '../../optics/emitter.ts';
import { createDmd, type DmdConfig } from '../dmd/index.ts';
import type { Dmd } from '../dmd/types.ts';
import { MemoryFramebuffer, VideoPort } from '../dmd/video-port.ts';
import type { FaultRegistry } from '../faults.ts';
import type { DmdCameraMapping } from '../patterns.ts';
import { SimDlpc347x } from './dmd-dlpc347x.ts';
import { SimDlpc900 } from './dmd-dlpc900.ts';
import { dmdScene } from './dmd-scene.ts';
import { SimI2cBus } from './i2c-bus.ts';

export interface SimDmdRig {
  dmd: Dmd;
  bus: SimI2cBus;
  model: SimDlpc900 | SimDlpc347x;
  framebuffer?: MemoryFramebuffer;
  /** scene source for SimCamera */
  scene(mapping?: DmdCameraMapping): () => { emitters: Emitter[] } | null;
}

type ActiveDmdConfig = Exclude<DmdConfig, { type: 'none' }>;

export function createSimDmdRig(cfg: ActiveDmdConfig, log?: Logger, faults?: FaultRegistry): SimDmdRig {
  const bus = new SimI2cBus({ timeoutMs: cfg.timeoutMs });
  if (cfg.type === 'dlpc900') {
    const width = cfg.width ?? 1920;
    const height = cfg.height ?? 1080;
    const model = new SimDlpc900({ width, height, controllers: cfg.controllers });
    bus.attach(cfg.address ?? 0x1a, model);
    const dmd = createDmd({ ...cfg, width, height }, bus, log, { faults }) as Dmd;
    return { dmd, bus, model, scene: (m) => dmdScene(model, m) };
  }
  const width = cfg.width ?? 854;
  const height = cfg.height ?? 480;
  const framebuffer = new MemoryFramebuffer(width, height, 32);
  const model = new SimDlpc347x({ width, height, framebuffer });
  bus.attach(cfg.address ?? 0x1b, model);
  const dmd = createDmd({ ...cfg, width, height }, bus, log, { faults, videoPort: new VideoPort(framebuffer) }) as Dmd;
  return { dmd, bus, model, framebuffer, scene: (m) => dmdScene(model, m) };
}
