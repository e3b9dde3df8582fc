/**
 * Nanohole task (issue #16): the fast simulator of coherent diffraction through subwavelength
 * holes in an opaque film, its ground-truth hole map, the largest-sub-Rayleigh-cluster index and
 * the normalisation of a recorded intensity into model input.
 *
 * THE MODEL IS SCALAR. Each hole is a Kirchhoff aperture: a uniformly lit disk of radius a in a
 * perfectly opaque, infinitely thin screen under a normally incident unit plane wave. The field
 * behind the screen is propagated with the angular spectrum to the recording plane H above it,
 * low-passed by the collecting NA (|f| ≤ NA/λ), and recorded as intensity |U|². It ignores the
 * film's thickness and permittivity, polarisation and the near-field coupling of close holes;
 * the full-Maxwell check is the FDTD test set in training/fdtd/. Report results from this
 * simulator as "scalar". One option goes beyond it: `dipoles` (HoleDipoles) makes each hole an
 * x-polarised vector source (magnetic dipole along y plus an optional electric dipole along x),
 * which gives the anisotropic pattern the FDTD solver shows; report those results as "vector holes".
 *
 * Units: lengths in λ. Angular spectrum of one disk centred at r_j:
 *   A_j(f) = πa² · 2J1(2πa|f|)/(2πa|f|) · exp(−i2π f·r_j)
 * propagated by exp(i2πH·√(1 − |f|²)) (|f| ≤ NA < 1, so no evanescent part survives the pupil).
 * The field is synthesised by an inverse FFT on a period `fftSize · pitch` (default 256 × 0.172λ =
 * 44λ) twice the recorded field, of which the central `size` × `size` (22λ) is kept, so the
 * periodic images of the pattern do not wrap into the crop.
 *
 * Grids (ARCHITECTURE.md / the nanohole contract): row index ↔ y, column ↔ x, both increasing
 * with the index, pixel centres at (i + 0.5 − N/2)·pitch.
 */
import { ComplexFft, RealFft2d } from './fft.ts';
import type { Rng } from './random.ts';
import { besselJ1 } from './special.ts';

export const NANOHOLE = {
  wavelengthNm: 633,
  holeDiameter: 1 / 6.33,
  area: 2.2,
  heightH: 1,
  na: 0.9,
  inputSize: 128,
  inputExtent: 22,
  mapSize: 128,
  mapExtent: 2.5,
} as const;

/** hole radius a = d/2 in λ */
export const NANOHOLE_RADIUS = NANOHOLE.holeDiameter / 2;
/** Rayleigh distance 0.61λ/NA: holes closer than this are linked into a sub-Rayleigh cluster */
export const RAYLEIGH_LINK = 0.61 / NANOHOLE.na;
/** the two-hole sweep: from just below the Rayleigh distance down to touching holes */
export const PAIR_DISTANCE_RANGE = { max: 0.677, min: NANOHOLE.holeDiameter } as const;
export const MAX_HOLES = 10;

export interface Hole {
  /** λ, relative to the centre of the area */
  x: number;
  y: number;
}

export interface NanoholeSample {
  holes: Hole[];
  radius: number;
  /** inputSize × inputSize recorded intensity over inputExtent (photons when noise is on, else |U|² of a unit plane wave) */
  intensity: Float32Array;
  /** mapSize × mapSize binary hole map over mapExtent */
  truth: Uint8Array;
  largestCluster: number;
  /** centre distance of the two holes in pair mode */
  distance?: number;
}

/** size of the largest group of holes connected by centre distances < link (1 for a lone hole, 0 for none) */
export function largestSubRayleighCluster(holes: Hole[], link: number = RAYLEIGH_LINK): number {
  const n = holes.length;
  if (n === 0) return 0;
  const parent = Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => {
    let r = i;
    while (parent[r] !== r) r = parent[r];
    while (parent[i] !== r) {
      const next = parent[i];
      parent[i] = r;
      i = next;
    }
    return r;
  };
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (Math.hypot(holes[i].x - holes[j].x, holes[i].y - holes[j].y) < link) parent[find(i)] = find(j);
    }
  }
  const sizes = new Map<number, number>();
  let best = 0;
  for (let i = 0; i < n; i++) {
    const r = find(i);
    const s = (sizes.get(r) ?? 0) + 1;
    sizes.set(r, s);
    if (s > best) best = s;
  }
  return best;
}

/** binary map: 1 where the pixel centre lies within `radius` of a hole centre */
export function holeMap(holes: Hole[], radius: number, size: number = NANOHOLE.mapSize, extent: number = NANOHOLE.mapExtent): Uint8Array {
  if (!Number.isInteger(size) || size <= 0) throw new Error(`holeMap: invalid size ${size}`);
  const map = new Uint8Array(size * size);
  const pitch = extent / size;
  const r2 = radius * radius;
  for (const h of holes) {
    // pixel i has centre (i + 0.5 − size/2)·pitch
    const lo = (v: number): number => Math.max(0, Math.floor((v - radius) / pitch + size / 2 - 0.5));
    const hi = (v: number): number => Math.min(size - 1, Math.ceil((v + radius) / pitch + size / 2 - 0.5));
    for (let i = lo(h.y); i <= hi(h.y); i++) {
      const dy = (i + 0.5 - size / 2) * pitch - h.y;
      for (let j = lo(h.x); j <= hi(h.x); j++) {
        const dx = (j + 0.5 - size / 2) * pitch - h.x;
        if (dx * dx + dy * dy <= r2) map[i * size + j] = 1;
      }
    }
  }
  return map;
}

/**
 * A film that is not opaque: it transmits the complex amplitude t = amplitude·e^(i·phase) of the
 * incident plane wave (the holes transmit 1), so the aperture field is t + (1 − t)·Σ disks. Still
 * scalar Kirchhoff; it adds the coherent direct transmission that a real 100 nm Cr film has
 * (|t|² ≈ 5e-4 at 633 nm) and that interferes with the holes' field.
 */
export interface FilmTransmission {
  amplitude: number;
  /** radians */
  phase: number;
}

/**
 * Vector holes (an option beyond the Kirchhoff model): the incident wave is polarised along x and
 * each hole radiates as a small aperture does in full-Maxwell theory, a magnetic dipole along y
 * (Bethe) plus, optionally, an electric dipole along x with the complex ratio η = ratio·e^(i·phase)
 * (η = 0: the perfect-conductor limit). With the 1/f_z of the Weyl expansion the transverse
 * angular spectrum per hole is the Kirchhoff disk's A_j(f) times
 *   (E_x, E_y) = (1 + η·(1 − f_x²)/f_z,  −η·f_x·f_y/f_z),
 * and E_z = −(f_x·E_x + f_y·E_y)/f_z follows from transversality, so the recorded intensity is
 * |E_x|² + |E_y|² + |E_z|². At η = 0, E_x is the scalar field and E_z adds the lobes along the
 * polarisation that widen one hole's spot along x as the FDTD solver found (training/fdtd/
 * validation.txt: 1.031λ × 0.688λ). The FDTD angular spectrum there (≈ 2.2× its f = 0 value at
 * (±0.9, 0), ≈ 1.1× at (0, ±0.9)) is fitted by no η (a magnetic dipole gives 5.3× and 1×).
 * Still no film thickness, permittivity or near-field coupling.
 */
export interface HoleDipoles {
  /** |η|, electric-dipole (x) to magnetic-dipole (y) amplitude ratio */
  ratio: number;
  /** arg η, radians */
  phase: number;
}

/** the perfect-conductor limit η = 0: a magnetic dipole along y only */
export const MAGNETIC_DIPOLES: HoleDipoles = Object.freeze({ ratio: 0, phase: 0 });

export interface DiffractionOptions {
  /** partially transmitting film (default: opaque) */
  film?: FilmTransmission;
  /** vector holes under x polarisation (default: the scalar Kirchhoff field) */
  dipoles?: HoleDipoles;
  /** recording distance above the film, λ (default NANOHOLE.heightH) */
  height?: number;
  /** collecting numerical aperture (default NANOHOLE.na) */
  na?: number;
  /** recorded grid, pixels per side (default inputSize) */
  size?: number;
  /** recorded field width, λ (default inputExtent) */
  extent?: number;
  /** FFT grid per side at the same pitch; the period is fftSize·pitch (default 2·size) */
  fftSize?: number;
  /** integrate the intensity over each pixel's square (100 % fill factor) instead of sampling it at the centre */
  pixelIntegration?: boolean;
  /** camera pixels are binning × binning grid pixels (a coarser camera); the result is (size/binning)² */
  binning?: number;
}

interface Plan {
  n: number;
  fft: ComplexFft;
  /** frequency indices m (−n/2..n/2−1) with |m| ≤ mMax along an axis */
  mMax: number;
}

const plans = new Map<number, Plan>();

function plan(n: number, mMax: number): Plan {
  const key = n * 4096 + mMax;
  let p = plans.get(key);
  if (!p) {
    p = { n, fft: new ComplexFft(n), mMax };
    plans.set(key, p);
  }
  return p;
}

/** πa² · 2J1(2πaρ)/(2πaρ): the angular spectrum of a uniformly lit disk of radius a at spatial frequency ρ (cycles/λ) */
export function diskSpectrum(radius: number, rho: number): number {
  const area = Math.PI * radius * radius;
  const z = 2 * Math.PI * radius * rho;
  if (z < 1e-8) return area;
  return (area * 2 * besselJ1(z)) / z;
}

/**
 * Complex field on the full fftSize² period grid (row-major, rows `rows`…): only the rows in
 * [rowFrom, rowFrom + rowCount) are synthesised. Grid point k has coordinate (k + 0.5 − n/2)·pitch.
 */
function field(
  holes: Hole[],
  radius: number,
  n: number,
  pitch: number,
  height: number,
  na: number,
  rowFrom: number,
  rowCount: number,
  film: FilmTransmission | undefined,
  dipoles?: HoleDipoles,
): { re: Float64Array; im: Float64Array }[] {
  const period = n * pitch;
  const df = 1 / period;
  const mMax = Math.min(n / 2 - 1, Math.floor(na / df));
  const { fft } = plan(n, mMax);
  const w = 2 * mMax + 1;
  // per hole and axis: exp(−i2π f·(r − s)), s = pitch/2 puts grid index k at (k − n/2)·pitch + s
  const nh = holes.length;
  const exr = new Float64Array(nh * w);
  const exi = new Float64Array(nh * w);
  const eyr = new Float64Array(nh * w);
  const eyi = new Float64Array(nh * w);
  for (let j = 0; j < nh; j++) {
    const hx = holes[j].x - pitch / 2;
    const hy = holes[j].y - pitch / 2;
    for (let u = 0; u < w; u++) {
      const f = (u - mMax) * df;
      exr[j * w + u] = Math.cos(-2 * Math.PI * f * hx);
      exi[j * w + u] = Math.sin(-2 * Math.PI * f * hx);
      eyr[j * w + u] = Math.cos(-2 * Math.PI * f * hy);
      eyi[j * w + u] = Math.sin(-2 * Math.PI * f * hy);
    }
  }
  // spectrum of the w columns with content, as n-long sequences along y (batch w): [my][u]
  const sr = new Float64Array(n * w);
  const si = new Float64Array(n * w);
  const na2 = na * na;
  // vector holes: the E_x spectrum goes into sr/si, E_y and E_z into their own
  const vec = dipoles
    ? { yr: new Float64Array(n * w), yi: new Float64Array(n * w), zr: new Float64Array(n * w), zi: new Float64Array(n * w) }
    : null;
  const er = dipoles ? dipoles.ratio * Math.cos(dipoles.phase) : 0;
  const ei = dipoles ? dipoles.ratio * Math.sin(dipoles.phase) : 0;
  for (let v = 0; v < w; v++) {
    const fy = (v - mMax) * df;
    const row = ((v - mMax + n) % n) * w;
    for (let u = 0; u < w; u++) {
      const fx = (u - mMax) * df;
      const rho2 = fx * fx + fy * fy;
      if (rho2 > na2) continue;
      let ar = 0;
      let ai = 0;
      for (let j = 0; j < nh; j++) {
        const xr = exr[j * w + u];
        const xi = exi[j * w + u];
        const yr = eyr[j * w + v];
        const yi = eyi[j * w + v];
        ar += xr * yr - xi * yi;
        ai += xr * yi + xi * yr;
      }
      const amp = diskSpectrum(radius, Math.sqrt(rho2)) * df * df;
      const ph = 2 * Math.PI * height * Math.sqrt(1 - rho2);
      const pr = amp * Math.cos(ph);
      const pi = amp * Math.sin(ph);
      const cr = ar * pr - ai * pi;
      const ci = ar * pi + ai * pr;
      if (!vec) {
        sr[row + u] = cr;
        si[row + u] = ci;
        continue;
      }
      const fz = Math.sqrt(1 - rho2);
      // gx = 1 + η(1 − fx²)/fz, gy = −η·fx·fy/fz (complex), gz = −(fx·gx + fy·gy)/fz
      const a = (1 - fx * fx) / fz;
      const b = (-fx * fy) / fz;
      const gxr = 1 + er * a;
      const gxi = ei * a;
      const gyr = er * b;
      const gyi = ei * b;
      const gzr = -(fx * gxr + fy * gyr) / fz;
      const gzi = -(fx * gxi + fy * gyi) / fz;
      sr[row + u] = cr * gxr - ci * gxi;
      si[row + u] = cr * gxi + ci * gxr;
      vec.yr[row + u] = cr * gyr - ci * gyi;
      vec.yi[row + u] = cr * gyi + ci * gyr;
      vec.zr[row + u] = cr * gzr - ci * gzi;
      vec.zi[row + u] = cr * gzi + ci * gzr;
    }
  }
  const spectra: [Float64Array, Float64Array][] = [[sr, si]];
  if (vec) spectra.push([vec.yr, vec.yi], [vec.zr, vec.zi]);
  if (film) {
    // screen transmitting t: aperture field t + (1 − t)·Σ disks; the uniform part is the f = 0 plane wave
    // (the direct wave is polarised along x like the incident one: it goes into E_x only)
    const tr = film.amplitude * Math.cos(film.phase);
    const tim = film.amplitude * Math.sin(film.phase);
    const kr = 1 - tr;
    const ki = -tim;
    for (const [cr, ci] of spectra) {
      for (let k = 0; k < cr.length; k++) {
        const a = cr[k];
        const b = ci[k];
        cr[k] = a * kr - b * ki;
        ci[k] = a * ki + b * kr;
      }
    }
    const ph = 2 * Math.PI * height;
    sr[mMax] += tr * Math.cos(ph) - tim * Math.sin(ph);
    si[mMax] += tr * Math.sin(ph) + tim * Math.cos(ph);
  }
  return spectra.map(([cr, ci]) => synthesise(fft, cr, ci, n, w, mMax, rowFrom, rowCount));
}

/** Rows [rowFrom, rowFrom + rowCount) of the field whose spectrum holds w columns (|m| ≤ mMax); consumes sr/si. */
function synthesise(
  fft: ComplexFft,
  sr: Float64Array,
  si: Float64Array,
  n: number,
  w: number,
  mMax: number,
  rowFrom: number,
  rowCount: number,
): { re: Float64Array; im: Float64Array } {
  fft.inverse(sr, si, w);
  // rows wanted, as n-long sequences along x (batch rowCount): element mx of row b at b + rowCount·mx
  const tr = new Float64Array(n * rowCount);
  const ti = new Float64Array(n * rowCount);
  for (let b = 0; b < rowCount; b++) {
    // grid row k ↔ DFT index (k − n/2) mod n
    const q = (rowFrom + b - n / 2 + n) % n;
    for (let u = 0; u < w; u++) {
      const m = (u - mMax + n) % n;
      tr[b + rowCount * m] = sr[q * w + u];
      ti[b + rowCount * m] = si[q * w + u];
    }
  }
  fft.inverse(tr, ti, rowCount);
  // back to row-major [b][k], column k ↔ DFT index (k − n/2) mod n
  const re = new Float64Array(rowCount * n);
  const im = new Float64Array(rowCount * n);
  for (let b = 0; b < rowCount; b++) {
    for (let k = 0; k < n; k++) {
      const q = (k - n / 2 + n) % n;
      re[b * n + k] = tr[b + rowCount * q];
      im[b * n + k] = ti[b + rowCount * q];
    }
  }
  return { re, im };
}

/**
 * Scalar diffraction intensity |U|² (unit incident plane wave) of the holes at the recording
 * plane, on a size × size grid over `extent` λ (default the contract's 128 over 22λ), optionally
 * pixel-integrated and binned onto a coarser camera ((size/binning)² mean intensities).
 */
export function diffractionIntensity(holes: Hole[], radius: number, opts: DiffractionOptions = {}): Float32Array {
  const size = opts.size ?? NANOHOLE.inputSize;
  const extent = opts.extent ?? NANOHOLE.inputExtent;
  const n = opts.fftSize ?? 2 * size;
  const height = opts.height ?? NANOHOLE.heightH;
  const na = opts.na ?? NANOHOLE.na;
  const binning = opts.binning ?? 1;
  if (!Number.isInteger(size) || size < 2 || size % 2 !== 0) throw new Error(`diffractionIntensity: size must be even, got ${size}`);
  if (!Number.isInteger(n) || n < size || n % 2 !== 0)
    throw new Error(`diffractionIntensity: fftSize must be an even number ≥ size, got ${n}`);
  if (!(na > 0 && na < 1)) throw new Error(`diffractionIntensity: NA must be in (0, 1), got ${na}`);
  if (!(radius > 0) || !(extent > 0) || !(height >= 0)) throw new Error('diffractionIntensity: radius, extent and height must be positive');
  if (!Number.isInteger(binning) || binning < 1 || size % binning !== 0)
    throw new Error(`diffractionIntensity: binning must divide ${size}`);
  const pitch = extent / size;
  const off = (n - size) / 2;
  let out = new Float32Array(size * size);
  if (!opts.pixelIntegration) {
    for (const { re, im } of field(holes, radius, n, pitch, height, na, off, size, opts.film, opts.dipoles)) {
      for (let i = 0; i < size; i++) {
        for (let j = 0; j < size; j++) {
          const k = i * n + off + j;
          out[i * size + j] += re[k] * re[k] + im[k] * im[k];
        }
      }
    }
  } else {
    // |U|² is band-limited to 2·NA; sampled at pitch < 1/(4·NA) over the period it is alias-free,
    // so the pixel box is exact as a sinc in its spectrum.
    if (pitch >= 1 / (4 * na)) throw new Error('diffractionIntensity: pixelIntegration needs pitch < λ/(4·NA)');
    const intensity = new Float64Array(n * n);
    for (const { re, im } of field(holes, radius, n, pitch, height, na, 0, n, opts.film, opts.dipoles)) {
      for (let k = 0; k < n * n; k++) intensity[k] += re[k] * re[k] + im[k] * im[k];
    }
    const rfft = new RealFft2d(n, n);
    const sr = new Float64Array(rfft.size);
    const si = new Float64Array(rfft.size);
    rfft.forward(intensity, n, n, sr, si);
    const sinc = (x: number): number => (Math.abs(x) < 1e-12 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x));
    for (let ky = 0; ky < n; ky++) {
      const fy = (ky <= n / 2 ? ky : ky - n) / (n * pitch);
      const gy = sinc(fy * pitch);
      for (let kx = 0; kx < rfft.mx; kx++) {
        const g = gy * sinc((kx / (n * pitch)) * pitch);
        sr[ky * rfft.mx + kx] *= g;
        si[ky * rfft.mx + kx] *= g;
      }
    }
    rfft.inverse(sr, si, intensity, n, n);
    for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) out[i * size + j] = Math.max(0, intensity[(off + i) * n + off + j]);
  }
  if (binning > 1) {
    const m = size / binning;
    const binned = new Float32Array(m * m);
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) binned[Math.floor(i / binning) * m + Math.floor(j / binning)] += out[i * size + j];
    }
    for (let k = 0; k < binned.length; k++) binned[k] /= binning * binning;
    out = binned;
  }
  return out;
}

export interface NanoholeNoise {
  /** expected photons in the whole recorded frame (Poisson shot noise); 0/absent: noiseless |U|² */
  photons?: number;
  /** Gaussian read noise σ per camera pixel, photons */
  readNoise?: number;
}

/** The camera: Poisson counts with `photons` expected in the frame, plus Gaussian read noise. */
export function recordIntensity(intensity: Float32Array, noise: NanoholeNoise, rng: Rng): Float32Array {
  const photons = noise.photons ?? 0;
  const read = noise.readNoise ?? 0;
  if (!(photons > 0)) {
    if (read > 0) throw new Error('recordIntensity: read noise needs a photon budget (photons > 0)');
    return intensity.slice();
  }
  let sum = 0;
  for (let k = 0; k < intensity.length; k++) sum += intensity[k];
  const scale = sum > 0 ? photons / sum : 0;
  const out = new Float32Array(intensity.length);
  for (let k = 0; k < out.length; k++) out[k] = rng.poisson(intensity[k] * scale) + (read > 0 ? read * rng.normal() : 0);
  return out;
}

export interface NanoholeSampleOptions {
  /** exact hole count (overrides minHoles/maxHoles) */
  holes?: number;
  /** hole count drawn uniformly in minHoles..maxHoles (default 1..10) */
  minHoles?: number;
  maxHoles?: number;
  /** two-hole mode: two holes at this centre distance, random orientation and midpoint */
  pairDistance?: number;
  /** hole radius, λ (default NANOHOLE_RADIUS) */
  radius?: number;
  noise?: NanoholeNoise;
  /** partially transmitting film (default opaque) */
  film?: FilmTransmission;
  /** vector holes under x polarisation (default scalar) */
  dipoles?: HoleDipoles;
  /** camera sampling: pixel integration and a coarser camera (binning); the stored intensity stays on the 128 grid (each camera pixel's value repeated over its binning² block) */
  camera?: { pixelIntegration?: boolean; binning?: number };
}

/** Random non-overlapping hole centres (distance ≥ 2·radius) with the disks inside the area. */
export function drawHoles(count: number, radius: number, rng: Rng, area: number = NANOHOLE.area): Hole[] {
  const half = area / 2 - radius;
  const minD2 = (2 * radius) ** 2;
  for (let attempt = 0; attempt < 100; attempt++) {
    const holes: Hole[] = [];
    for (let tries = 0; holes.length < count && tries < 20000; tries++) {
      const h = { x: rng.range(-half, half), y: rng.range(-half, half) };
      if (holes.every((o) => (o.x - h.x) ** 2 + (o.y - h.y) ** 2 >= minD2)) holes.push(h);
    }
    if (holes.length === count) return holes;
  }
  throw new Error(`drawHoles: could not place ${count} holes of radius ${radius} in ${area}λ`);
}

/** Two holes at centre distance D, random orientation, midpoint random with both disks inside the area. */
export function drawPair(distance: number, radius: number, rng: Rng, area: number = NANOHOLE.area): Hole[] {
  const theta = rng.range(0, 2 * Math.PI);
  const dx = (distance / 2) * Math.cos(theta);
  const dy = (distance / 2) * Math.sin(theta);
  const mx = area / 2 - radius - Math.abs(dx);
  const my = area / 2 - radius - Math.abs(dy);
  if (mx < 0 || my < 0) throw new Error(`drawPair: distance ${distance} does not fit in ${area}λ`);
  const cx = rng.range(-mx, mx);
  const cy = rng.range(-my, my);
  return [
    { x: cx - dx, y: cy - dy },
    { x: cx + dx, y: cy + dy },
  ];
}

/** One simulated sample: holes, recorded 22λ intensity (scalar model), 2.5λ truth map, cluster index. */
export function simulateNanohole(opts: NanoholeSampleOptions, rng: Rng): NanoholeSample {
  const radius = opts.radius ?? NANOHOLE_RADIUS;
  let holes: Hole[];
  let distance: number | undefined;
  if (opts.pairDistance !== undefined) {
    distance = opts.pairDistance;
    if (!(distance >= 2 * radius)) throw new Error(`simulateNanohole: pair distance ${distance} is below touching (${2 * radius})`);
    holes = drawPair(distance, radius, rng);
  } else {
    const lo = opts.holes ?? opts.minHoles ?? 1;
    const hi = opts.holes ?? opts.maxHoles ?? MAX_HOLES;
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi < lo || hi > MAX_HOLES) {
      throw new Error(`simulateNanohole: hole count range ${lo}..${hi} outside 1..${MAX_HOLES}`);
    }
    holes = drawHoles(lo + rng.int(hi - lo + 1), radius, rng);
  }
  const binning = opts.camera?.binning ?? 1;
  const camera = diffractionIntensity(holes, radius, {
    pixelIntegration: opts.camera?.pixelIntegration,
    binning,
    film: opts.film,
    dipoles: opts.dipoles,
  });
  const recorded = recordIntensity(camera, opts.noise ?? {}, rng);
  const size = NANOHOLE.inputSize;
  let intensity = recorded;
  if (binning > 1) {
    const m = size / binning;
    intensity = new Float32Array(size * size);
    for (let i = 0; i < size; i++)
      for (let j = 0; j < size; j++) intensity[i * size + j] = recorded[Math.floor(i / binning) * m + Math.floor(j / binning)];
  }
  const sample: NanoholeSample = {
    holes,
    radius,
    intensity,
    truth: holeMap(holes, radius),
    largestCluster: largestSubRayleighCluster(holes),
  };
  if (distance !== undefined) sample.distance = distance;
  return sample;
}

/** manifest `input.normalisation` of nanohole models: nanoholeInput() */
export const NANOHOLE_INPUT_NORMALISATION = 'nanohole-min-max';

/**
 * What the network is fed: the recorded 22λ intensity (inputSize², any scale or offset: photon
 * counts, ADU, or the FDTD set's uint16) with its minimum subtracted and scaled to maximum 1.
 * The pattern's scale carries no information about the positions; this makes the model blind to
 * exposure and to a camera offset. A flat frame maps to zeros.
 */
export function nanoholeInput(intensity: Float32Array): Float32Array {
  const n = NANOHOLE.inputSize * NANOHOLE.inputSize;
  if (intensity.length !== n)
    throw new Error(`nanoholeInput: expected ${NANOHOLE.inputSize}×${NANOHOLE.inputSize} = ${n} values, got ${intensity.length}`);
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let k = 0; k < n; k++) {
    const v = intensity[k];
    if (!Number.isFinite(v)) throw new Error('nanoholeInput: the intensity contains a non-finite value');
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const out = new Float32Array(n);
  const span = max - min;
  if (span > 0) for (let k = 0; k < n; k++) out[k] = (intensity[k] - min) / span;
  return out;
}
