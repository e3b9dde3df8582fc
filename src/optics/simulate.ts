/**
 * The camera forward model: emitters → PSF integrated over camera pixels → + background →
 * Poisson shot noise; plus the ground-truth map on a `scale`× finer grid.
 */
import { addBackground, type BackgroundStructure, isFlat } from './background.ts';
import { type CameraMaps, type CameraModel, cameraMaps, exposeFrame, isIdealCamera } from './camera.ts';
import type { Emitter } from './emitter.ts';
import { type Image, makeImage } from './image.ts';
import { type Psf, PsfRenderer } from './psf.ts';
import type { Rng } from './random.ts';

/** Expected photons per camera pixel (no noise, no background). */
export function renderExpected(emitters: ReadonlyArray<Emitter>, psf: Psf, width: number, height: number): Float64Array {
  const out = new Float64Array(width * height);
  new PsfRenderer(psf, 1).render(out, width, height, emitters);
  return out;
}

/**
 * Noisy camera frame: each pixel ~ Poisson(signal + background). `background` is the mean
 * photons per pixel; pass noise=false for the expected image (tests, DMD previews).
 */
export function renderFrame(
  emitters: ReadonlyArray<Emitter>,
  psf: Psf,
  width: number,
  height: number,
  background: number,
  rng: Rng | null,
): Image {
  const expected = renderExpected(emitters, psf, width, height);
  const data = new Float32Array(width * height);
  for (let i = 0; i < data.length; i++) {
    const lam = expected[i] + background;
    data[i] = rng ? rng.poisson(lam) : lam;
  }
  return makeImage(width, height, data);
}

export interface RealismOptions {
  /** mean background photons per pixel */
  background: number;
  /** structure on top of the mean level (default flat) */
  structure?: BackgroundStructure;
  /** the camera (default: the ideal one, photon counts) */
  camera?: CameraModel;
  /** the camera's fixed-pattern maps for this frame size (built from camera.mapSeed when absent) */
  maps?: CameraMaps;
}

/**
 * The full forward model: PSF → + structured background → camera (QE, EM register, read noise,
 * gain, offset, ADU, saturation, hot pixels). A flat background and the ideal camera (the
 * defaults) give renderFrame()'s frame exactly; otherwise the frame is in ADU.
 */
export function renderCameraFrame(
  emitters: ReadonlyArray<Emitter>,
  psf: Psf,
  width: number,
  height: number,
  o: RealismOptions,
  rng: Rng | null,
): Image {
  const structure = o.structure;
  const camera = o.camera;
  const flat = !structure || isFlat(structure);
  if (flat && (!camera || isIdealCamera(camera))) return renderFrame(emitters, psf, width, height, o.background, rng);
  const expected = renderExpected(emitters, psf, width, height);
  if (structure && !flat) {
    if (!rng) throw new Error('renderCameraFrame: a structured background is random; give an Rng');
    addBackground(expected, width, height, o.background, structure, rng);
  } else for (let i = 0; i < expected.length; i++) expected[i] += o.background;
  if (!camera || isIdealCamera(camera)) {
    const data = new Float32Array(width * height);
    for (let i = 0; i < data.length; i++) data[i] = rng ? rng.poisson(expected[i]) : expected[i];
    return makeImage(width, height, data);
  }
  const maps = o.maps ?? cameraMaps(camera, width, height);
  return makeImage(width, height, exposeFrame(expected, camera, maps, rng));
}

/**
 * Ground truth on the fine grid: photons per fine pixel. An emitter at camera (x, y) lands in fine
 * pixel (floor(x·scale), floor(y·scale)); emitters outside the frame are dropped.
 */
export function renderTruth(emitters: ReadonlyArray<Emitter>, width: number, height: number, scale: number): Image {
  const fw = width * scale;
  const fh = height * scale;
  const data = new Float32Array(fw * fh);
  for (const e of emitters) {
    const i = Math.floor(e.x * scale);
    const j = Math.floor(e.y * scale);
    if (i < 0 || j < 0 || i >= fw || j >= fh) continue;
    data[j * fw + i] += e.photons;
  }
  return makeImage(fw, fh, data);
}
