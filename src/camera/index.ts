import type { CameraConfig } from '../config/camera.ts';
import type { Logger } from '../log.ts';
import { FileFrameSource } from './file.ts';
import { createGstreamerSource } from './gstreamer.ts';
import { IndiFrameSource } from './indi.ts';
import { createRpicamSource } from './rpicam.ts';
import { SimCamera, type SimCameraOptions } from './sim.ts';
import type { FrameSource } from './types.ts';

/** `camera.type` picks the implementation; simulated hooks (DMD scene, stage offset) only apply to "sim". */
export function createFrameSource(cfg: CameraConfig, log: Logger, sim: SimCameraOptions = {}): FrameSource {
  switch (cfg.type) {
    case 'sim':
      return new SimCamera(cfg, sim);
    case 'file':
      return new FileFrameSource(cfg);
    case 'rpicam':
      return createRpicamSource(cfg, log);
    case 'gstreamer':
      return createGstreamerSource(cfg, log);
    case 'indi':
      return new IndiFrameSource(cfg, { log });
  }
}

export type { Frame, FrameSource } from './types.ts';
