import type { RpicamCameraConfig } from '../config/camera.ts';
import type { Logger } from '../log.ts';
import { checkRoiFits } from '../pipeline/preprocess.ts';
import { ProcessFrameSource } from './process-source.ts';
import { decodeYuv420Luma, yuv420Layout } from './raw-frames.ts';

/**
 * rpicam-vid streaming raw YUV420 to stdout. We keep the luma (Y) plane only: the models take
 * one channel, and monochrome sensors deliver their signal there. The stream has no headers, so
 * framing relies on the exact frame size (see yuv420Layout for the stride rule).
 *
 * With `camera.roi`, rpicam-vid crops on the ISP (`--roi`, fractions of the sensor mode
 * `width`×`height`) and outputs the ROI at 1:1 (`--width`/`--height` = the ROI's), so only the
 * region crosses the pipe and the frame path. `--mode width:height` pins the sensor mode: left
 * to itself, rpicam picks a mode from the (small) output size, and a binned mode would scale the
 * crop (rpicam-apps options: "--mode <width>:<height>:<bit-depth>:<packing>", the last two
 * optional).
 */
export function rpicamArgs(cfg: RpicamCameraConfig): string[] {
  const out = readout(cfg);
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
    String(out.width),
    '--height',
    String(out.height),
    '--framerate',
    String(cfg.fps),
  ];
  const r = cfg.roi;
  if (r) {
    const f = (v: number, of: number) => String(Number((v / of).toFixed(6)));
    args.push('--mode', `${cfg.width}:${cfg.height}`);
    args.push('--roi', [f(r.x, cfg.width), f(r.y, cfg.height), f(r.width, cfg.width), f(r.height, cfg.height)].join(','));
  }
  if (cfg.shutter > 0) args.push('--shutter', String(cfg.shutter));
  if (cfg.gain > 0) args.push('--gain', String(cfg.gain));
  args.push('-o', '-');
  return args;
}

/** The frame rpicam-vid delivers: the ROI when one is set (checked against the sensor mode), else the whole mode. */
function readout(cfg: RpicamCameraConfig): { width: number; height: number } {
  const r = cfg.roi;
  if (!r) return { width: cfg.width, height: cfg.height };
  checkRoiFits(r, cfg.width, cfg.height, 'sensor mode');
  // YUV420 subsamples chroma 2×2: an odd output size is not a frame rpicam-vid delivers
  if (r.width % 2 || r.height % 2) throw new Error(`camera.roi ${r.width}×${r.height}: rpicam needs an even width and height`);
  return { width: r.width, height: r.height };
}

export function createRpicamSource(cfg: RpicamCameraConfig, log?: Logger): ProcessFrameSource {
  const out = readout(cfg);
  // a configured stride describes rows of the whole mode; the ROI's rows get the ISP's own padding
  const layout = yuv420Layout(out.width, out.height, cfg.roi ? undefined : cfg.stride);
  return new ProcessFrameSource({
    kind: 'rpicam',
    command: cfg.binary,
    args: rpicamArgs(cfg),
    frameBytes: layout.frameBytes,
    decode: (buf) => decodeYuv420Luma(buf, layout),
    stallTimeoutMs: cfg.stallTimeoutMs,
    log,
    origin: cfg.roi ? { x: cfg.roi.x, y: cfg.roi.y } : undefined,
  });
}
