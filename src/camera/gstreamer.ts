import type { GstreamerCameraConfig } from '../config/camera.ts';
import type { Logger } from '../log.ts';
import { ProcessFrameSource } from './process-source.ts';
import { decodeGray, grayFrameBytes } from './raw-frames.ts';

/** fps as a GStreamer fraction string ("10/1", "7500/1000") */
export function gstFraction(fps: number): string {
  if (Number.isInteger(fps)) return `${fps}/1`;
  return `${Math.round(fps * 1000)}/1000`;
}

/**
 * Jetson CSI camera through nvarguscamerasrc → nvvidconv (NVMM → system memory, colour → gray)
 * → fdsink on stdout. Each pipeline element and caps string is its own argv entry, so nothing is
 * parsed by a shell; -q keeps gst-launch's own messages off stdout, which carries the frames.
 */
export function gstreamerArgs(cfg: GstreamerCameraConfig): string[] {
  return [
    '-q',
    'nvarguscamerasrc',
    `sensor-id=${cfg.sensorId}`,
    '!',
    `video/x-raw(memory:NVMM),width=${cfg.width},height=${cfg.height},framerate=${gstFraction(cfg.fps)}`,
    '!',
    'nvvidconv',
    '!',
    `video/x-raw,format=${cfg.format}`,
    '!',
    'fdsink',
    'fd=1',
  ];
}

export function createGstreamerSource(cfg: GstreamerCameraConfig, log?: Logger): ProcessFrameSource {
  return new ProcessFrameSource({
    kind: 'gstreamer',
    command: cfg.binary,
    args: gstreamerArgs(cfg),
    frameBytes: grayFrameBytes(cfg.width, cfg.height, cfg.format),
    decode: (buf) => decodeGray(buf, cfg.width, cfg.height, cfg.format),
    stallTimeoutMs: cfg.stallTimeoutMs,
    log,
  });
}
