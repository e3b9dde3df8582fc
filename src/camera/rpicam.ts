import type { RpicamCameraConfig } from '../config/camera.ts';
import type { Logger } from '../log.ts';
import { ProcessFrameSource } from './process-source.ts';
import { decodeYuv420Luma, yuv420Layout } from './raw-frames.ts';

/**
 * rpicam-vid streaming raw YUV420 to stdout. We keep the luma (Y) plane only: the models take
 * one channel, and monochrome sensors deliver their signal there. The stream has no headers, so
 * framing relies on the exact frame size (see yuv420Layout for the stride rule).
 */
export function rpicamArgs(cfg: RpicamCameraConfig): string[] {
  const args = [
    '--camera',
    String(cfg.camera),
    '--codec',
    'yuv420',
    '-t',
    '0',
    '-n',
    '--flush',
    '--width',
    String(cfg.width),
    '--height',
    String(cfg.height),
    '--framerate',
    String(cfg.fps),
  ];
  if (cfg.shutter > 0) args.push('--shutter', String(cfg.shutter));
  if (cfg.gain > 0) args.push('--gain', String(cfg.gain));
  args.push('-o', '-');
  return args;
}

export function createRpicamSource(cfg: RpicamCameraConfig, log?: Logger): ProcessFrameSource {
  const layout = yuv420Layout(cfg.width, cfg.height, cfg.stride);
  return new ProcessFrameSource({
    kind: 'rpicam',
    command: cfg.binary,
    args: rpicamArgs(cfg),
    frameBytes: layout.frameBytes,
    decode: (buf) => decodeYuv420Luma(buf, layout),
    stallTimeoutMs: cfg.stallTimeoutMs,
    log,
  });
}
