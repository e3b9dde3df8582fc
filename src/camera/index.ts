import type { CameraConfig } from '../config/camera.ts';
import type { FaultRegistry } from '../hardware/faults.ts';
import type { Logger } from '../log.ts';
import { FileFrameSource } from './file.ts';
import { createGstreamerSource } from './gstreamer.ts';
import { IndiFrameSource } from './indi.ts';
import { createRpicamSource } from './rpicam.ts';
import { SimCamera, type SimCameraOptions } from './sim.ts';
import type { FrameSource } from './types.ts';

/**
 * `camera.type` picks the implementation; simulated hooks (DMD scene, stage offset) only apply to
 * "sim"; `faults` is where sources that report device faults (indi) record them, as device "camera".
 */
export function createFrameSource(cfg: CameraConfig, log: Logger, hooks: SimCameraOptions & { faults?: FaultRegistry } = {}): FrameSource {
  switch (cfg.type) {
    case 'sim':
      return new SimCamera(cfg, hooks);
    case 'file':
      return new FileFrameSource(cfg);
    case 'rpicam':
      return createRpicamSource(cfg, log);
    case 'gstreamer':
      return createGstreamerSource(cfg, log);
    case 'indi':
      return new IndiFrameSource(cfg, { log, faults: hooks.faults });
  }
}

export type { Frame, FrameSource } from './types.ts';
