/**
 * Point spread functions, integrated exactly (Gaussian) or by quadrature (Airy) over pixels.
 *
 * Convention (ARCHITECTURE.md): Gaussian ∝ exp(-r²/σ²), Airy ∝ [J1(2r/σ)/(r/σ)]², σ = "width" in
 * camera pixels. Both have the same analytic total πσ², so they are normalised to unit energy
 * over the infinite plane; light falling outside the frame (or beyond the render radius) is lost,
 * as it is on a real sensor. Camera pixel i covers [i, i+1).
 */
import { type PsfTable, pupilPsfTable, readTable, TABLE_RADIUS_SIGMA, type Zernike, zernikeRms } from './pupil.ts';
import { besselJ1, erfc } from './special.ts';

export type PsfShape = 'gauss' | 'airy';
export const PSF_SHAPES: readonly PsfShape[] = ['gauss', 'airy'];

export interface Psf {
  shape: PsfShape;
  /** σ in camera pixels (gauss: along the first principal axis) */
  width: number;
  /**
   * gauss only: σ along the second principal axis (default = width, circular). The elliptical
   * Gaussian is ∝ exp(−u²/width² − v²/widthY²), unit energy 1/(π·width·widthY).
   */
  widthY?: number;
  /** gauss only: angle of the first principal axis from the x axis, radians (default 0) */
  angle?: number;
  /**
   * airy only: the pupil's aberration (Zernike, waves RMS; see pupil.ts). Absent or all zero:
   * the analytic Airy pattern. Present: the pupil PSF, whose unaberrated case is that Airy.
   */
  aberration?: Zernike;
}

/** the original circular Gaussian (separable with one 1-D factor for both axes) */
export function isCircularGauss(psf: Psf): boolean {
  return psf.shape === 'gauss' && (psf.widthY === undefined || psf.widthY === psf.width);
}

/** an Airy PSF with a non-zero pupil aberration */
export function isAberrated(psf: Psf): boolean {
  return psf.shape === 'airy' && zernikeRms(psf.aberration) > 0;
}

/** the largest σ of the PSF (camera px) */
export function psfMaxWidth(psf: Psf): number {
  return psf.shape === 'gauss' ? Math.max(psf.width, psf.widthY ?? psf.width) : psf.width;
}

/** "gauss w=2", "gauss 2×1 @30°", "airy w=2 +0.15λ rms" */
export function describePsf(psf: Psf): string {
  if (psf.shape === 'gauss' && !isCircularGauss(psf)) {
    const deg = (((psf.angle ?? 0) * 180) / Math.PI).toFixed(0);
    return `gauss ${psf.width}×${psf.widthY} @${deg}°`;
  }
  const rms = zernikeRms(psf.aberration);
  return rms > 0 ? `${psf.shape} w=${psf.width} +${rms.toFixed(2)}λ rms` : `${psf.shape} w=${psf.width}`;
}

/** Unit-energy PSF intensity per unit area at distance r (same length unit as width). */
export function psfDensity(psf: Psf, r: number): number {
  if (!isCircularGauss(psf) && psf.shape === 'gauss') throw new Error('psfDensity: radial profile of a circular PSF only');
  if (isAberrated(psf)) throw new Error('psfDensity: an aberrated PSF has no radial profile');
  const s = psf.width;
  const norm = 1 / (Math.PI * s * s);
  if (psf.shape === 'gauss') return norm * Math.exp(-(r * r) / (s * s));
  const q = r / s;
  if (q < 1e-6) return norm;
  const j = besselJ1(2 * q) / q;
  return norm * j * j;
}

/**
 * Energy of the unit-energy PSF inside radius r (encircled energy), analytic:
 * Gaussian 1 - exp(-r²/σ²), Airy 1 - J0(u)² - J1(u)² with u = 2r/σ.
 */
export function encircledEnergy(psf: Psf, r: number, j0?: (x: number) => number): number {
  const q = r / psf.width;
  if (psf.shape === 'gauss') return 1 - Math.exp(-q * q);
  if (!j0) throw new Error('encircledEnergy(airy) needs J0');
  const u = 2 * q;
  const a = j0(u);
  const b = besselJ1(u);
  return 1 - a * a - b * b;
}

/**
 * Radius (in the grid's pixels) inside which the renderer draws the PSF. The Gaussian tail beyond
 * 5σ is < 1e-10 of the energy; the Airy tail decays only as σ/(πr), so we go to 32σ (≤ 1 % lost).
 */
export function renderRadius(shape: PsfShape, widthPx: number): number {
  if (shape === 'gauss') return 5 * widthPx + 1;
  return Math.max(32 * widthPx, 8);
}

/** the render radius of any PSF (grid px, σ already divided by the pixel size) */
function radiusOf(psf: Psf, pixelSize: number): number {
  if (isAberrated(psf)) return (TABLE_RADIUS_SIGMA * psf.width) / pixelSize;
  return renderRadius(psf.shape, psfMaxWidth(psf) / pixelSize);
}

// 3-point Gauss–Legendre on [0, 1]
const GL3_X = [0.5 - 0.5 * Math.sqrt(0.6), 0.5, 0.5 + 0.5 * Math.sqrt(0.6)];
const GL3_W = [5 / 18, 8 / 18, 5 / 18];
// 2-point Gauss–Legendre on [0, 1]
const GL2_X = [0.5 - 0.5 / Math.sqrt(3), 0.5 + 0.5 / Math.sqrt(3)];
const GL2_W = [0.5, 0.5];

/**
 * out[k] = scaleBy × fraction of a 1-D Gaussian exp(-t²/σ²) (centre c) falling in [first+k,
 * first+k+1). Each boundary's erfc is evaluated once and shared by its two pixels; tails are
 * differenced as erfc values so they keep relative precision.
 */
function pixelFractions(out: Float64Array, first: number, n: number, c: number, s: number, scaleBy: number): void {
  let tPrev = (first - c) / s;
  let ePrev = erfc(Math.abs(tPrev));
  const h = 0.5 * scaleBy;
  for (let k = 0; k < n; k++) {
    const t = (first + k + 1 - c) / s;
    const e = erfc(Math.abs(t));
    let d: number;
    if (tPrev >= 0) d = ePrev - e;
    else if (t <= 0) d = e - ePrev;
    else d = 2 - ePrev - e;
    out[k] = h * d;
    tPrev = t;
    ePrev = e;
  }
}

/** A quadrature rule on the unit interval: nodes and weights summing to 1. */
interface Rule {
  x: Float64Array;
  w: Float64Array;
}

function compositeGL3(m: number): Rule {
  const x = new Float64Array(3 * m);
  const w = new Float64Array(3 * m);
  for (let c = 0; c < m; c++) {
    for (let k = 0; k < 3; k++) {
      x[3 * c + k] = (c + GL3_X[k]) / m;
      w[3 * c + k] = GL3_W[k] / m;
    }
  }
  return { x, w };
}

/** PsfRenderer.table: values on a (distance, tan angle) grid, row-major in distance */
interface PixelTable {
  d0: number;
  /** last distance that can be read with both neighbours present */
  d1: number;
  inv: number;
  nt: number;
  v: Float64Array;
}

function lookup(tab: PixelTable, d2: number, ax: number, ay: number): number {
  const lo = Math.min(ax, ay);
  const hi = Math.max(ax, ay);
  const fd = (Math.sqrt(d2) - tab.d0) * tab.inv;
  const i = fd | 0;
  const a = fd - i;
  const nt = tab.nt;
  const ft = hi > 0 ? (lo / hi) * nt : 0;
  let j = ft | 0;
  if (j >= nt) j = nt - 1;
  const b = ft - j;
  const v = tab.v;
  const k = i * (nt + 1) + j;
  const p = v[k] + b * (v[k + 1] - v[k]);
  const q = v[k + nt + 1] + b * (v[k + nt + 2] - v[k + nt + 1]);
  return p + a * (q - p);
}

/**
 * Draws emitters onto a pixel grid whose pixels are `pixelSize` camera pixels wide (1 for the
 * camera, 1/scale for a super-resolved grid). Reuse one renderer for many emitters with the
 * same PSF: the Airy profile table is built once per renderer.
 */
export class PsfRenderer {
  readonly psf: Psf;
  readonly pixelSize: number;
  /** σ in grid pixels */
  private s: number;
  /** elliptical Gaussian: σ along the second axis (grid px) */
  private sy = 0;
  private cos = 1;
  private sin = 0;
  private ellipseRule: Rule | null = null;
  private mode: 'gauss' | 'egauss' | 'rgauss' | 'airy' | 'pupil' = 'gauss';
  private pupilTable: PsfTable | null = null;
  private readonly radius: number;
  // Airy profile: against r² (no sqrt) every σ²/64 out to 8σ, where the core needs the
  // resolution; against r every σ/32 beyond, where only the ring spacing matters.
  private inner: Float64Array | null = null;
  private outer: Float64Array | null = null;
  private innerStep = 1;
  private innerMax2 = 0;
  private outerStep = 1;
  private coreRule: Rule | null = null;
  private farRule: Rule | null = null;
  private farEnvelope = false;
  // scratch for the separable Gaussian
  private wx = new Float64Array(0);
  private wy = new Float64Array(0);
  private readonly exact: boolean;
  private coreTable: PixelTable | null = null;
  private farTable: PixelTable | null = null;

  /**
   * exact=false (default) reads Airy pixel values from tables of the same quadrature (< 1 % per
   * pixel apart, built once per renderer and worth it from a few emitters on); exact=true runs
   * the quadrature for every pixel (kernels that are drawn once).
   */
  constructor(psf: Psf, pixelSize = 1, exact = false) {
    if (!(psf.width > 0) || !Number.isFinite(psf.width)) throw new Error(`invalid PSF width ${psf.width}`);
    if (!(pixelSize > 0)) throw new Error(`invalid pixel size ${pixelSize}`);
    this.psf = psf;
    this.pixelSize = pixelSize;
    this.s = psf.width / pixelSize;
    this.radius = radiusOf(psf, pixelSize);
    this.exact = exact;
    if (psf.shape === 'gauss' && !isCircularGauss(psf)) {
      const sy = (psf.widthY as number) / pixelSize;
      if (!(sy > 0) || !Number.isFinite(sy)) throw new Error(`invalid PSF widthY ${psf.widthY}`);
      this.sy = sy;
      const a = psf.angle ?? 0;
      // a multiple of 90° stays separable (σs swap at odd multiples)
      const quarter = Math.round(a / (Math.PI / 2));
      if (Math.abs(a - quarter * (Math.PI / 2)) < 1e-12) {
        if (quarter % 2 !== 0) [this.s, this.sy] = [this.sy, this.s];
        this.mode = 'egauss';
      } else {
        this.mode = 'rgauss';
        this.cos = Math.cos(a);
        this.sin = Math.sin(a);
        this.ellipseRule = compositeGL3(Math.min(4, Math.max(1, Math.ceil(1.5 / Math.min(this.s, this.sy)))));
      }
    } else if (isAberrated(psf)) this.mode = 'pupil';
  }

  /** Add `photons` × (PSF integrated over each pixel) for an emitter at camera coords (x, y). */
  addEmitter(target: Float32Array | Float64Array, width: number, height: number, x: number, y: number, photons: number): void {
    const gx = x / this.pixelSize;
    const gy = y / this.pixelSize;
    const r = this.radius;
    const c0 = Math.max(0, Math.floor(gx - r));
    const c1 = Math.min(width - 1, Math.floor(gx + r));
    const r0 = Math.max(0, Math.floor(gy - r));
    const r1 = Math.min(height - 1, Math.floor(gy + r));
    if (c0 > c1 || r0 > r1) return;
    if (this.mode === 'pupil') this.addTable(target, width, gx, gy, photons, c0, c1, r0, r1);
    else if (this.mode === 'rgauss') this.addRotatedGauss(target, width, gx, gy, photons, c0, c1, r0, r1);
    else if (this.psf.shape === 'gauss') this.addGauss(target, width, gx, gy, photons, c0, c1, r0, r1);
    else this.addAiry(target, width, gx, gy, photons, c0, c1, r0, r1);
  }

  render(
    target: Float32Array | Float64Array,
    width: number,
    height: number,
    emitters: ReadonlyArray<{ x: number; y: number; photons: number }>,
  ): void {
    for (const e of emitters) this.addEmitter(target, width, height, e.x, e.y, e.photons);
  }

  private addGauss(
    t: Float32Array | Float64Array,
    width: number,
    gx: number,
    gy: number,
    photons: number,
    c0: number,
    c1: number,
    r0: number,
    r1: number,
  ): void {
    const s = this.s;
    const nx = c1 - c0 + 1;
    const ny = r1 - r0 + 1;
    if (this.wx.length < nx) this.wx = new Float64Array(nx);
    if (this.wy.length < ny) this.wy = new Float64Array(ny);
    const wx = this.wx;
    const wy = this.wy;
    pixelFractions(wx, c0, nx, gx, s, 1);
    pixelFractions(wy, r0, ny, gy, this.mode === 'egauss' ? this.sy : s, photons);
    for (let j = 0; j < ny; j++) {
      const a = wy[j];
      if (a === 0) continue;
      const base = (r0 + j) * width + c0;
      for (let i = 0; i < nx; i++) t[base + i] += a * wx[i];
    }
  }

  /** rotated elliptical Gaussian: Gauss–Legendre quadrature over each pixel */
  private addRotatedGauss(
    t: Float32Array | Float64Array,
    width: number,
    gx: number,
    gy: number,
    photons: number,
    c0: number,
    c1: number,
    r0: number,
    r1: number,
  ): void {
    const { x, w } = this.ellipseRule as Rule;
    const n = x.length;
    const iu = 1 / (this.s * this.s);
    const iv = 1 / (this.sy * this.sy);
    const k = photons / (Math.PI * this.s * this.sy);
    const { cos, sin } = this;
    for (let row = r0; row <= r1; row++) {
      const base = row * width;
      for (let col = c0; col <= c1; col++) {
        let acc = 0;
        for (let j = 0; j < n; j++) {
          const dy = row + x[j] - gy;
          let line = 0;
          for (let i = 0; i < n; i++) {
            const dx = col + x[i] - gx;
            const u = dx * cos + dy * sin;
            const v = -dx * sin + dy * cos;
            line += w[i] * Math.exp(-u * u * iu - v * v * iv);
          }
          acc += w[j] * line;
        }
        t[base + col] += k * acc;
      }
    }
  }

  /** aberrated pupil: bilinear reads of the pixel-integrated table (pupil.ts) */
  private addTable(
    t: Float32Array | Float64Array,
    width: number,
    gx: number,
    gy: number,
    photons: number,
    c0: number,
    c1: number,
    r0: number,
    r1: number,
  ): void {
    if (!this.pupilTable) this.pupilTable = pupilPsfTable(this.s, this.psf.aberration as Zernike);
    const tab = this.pupilTable;
    for (let row = r0; row <= r1; row++) {
      const dy = row + 0.5 - gy;
      const base = row * width;
      for (let col = c0; col <= c1; col++) t[base + col] += photons * readTable(tab, col + 0.5 - gx, dy);
    }
  }

  private ensureAiryTables(): void {
    if (this.inner) return;
    const s = this.s;
    const unit: Psf = { shape: 'airy', width: s };
    this.innerStep = (s * s) / 64;
    this.innerMax2 = 64 * s * s;
    const inner = new Float64Array(64 * 64 + 2);
    for (let i = 0; i < inner.length; i++) inner[i] = psfDensity(unit, Math.sqrt(i * this.innerStep));
    this.outerStep = s / 32;
    const outer = new Float64Array(Math.ceil((this.radius + 2) / this.outerStep) + 2);
    for (let i = 0; i < outer.length; i++) outer[i] = psfDensity(unit, i * this.outerStep);
    this.inner = inner;
    this.outer = outer;
    // Rules are chosen from the profile's curvature on the pixel scale (∝ 1/σ²): fine where
    // the PSF varies within a pixel, a single midpoint where it is smooth — the wide PSFs
    // cover the whole frame, so their per-pixel cost dominates rendering time.
    const gl2: Rule = {
      x: Float64Array.from(GL2_X),
      w: Float64Array.from(GL2_W),
    };
    const mid: Rule = { x: Float64Array.of(0.5), w: Float64Array.of(1) };
    this.coreRule = s < 1.2 ? compositeGL3(Math.min(4, Math.ceil(1.2 / s))) : s < 2 ? compositeGL3(1) : s < 8 ? gl2 : mid;
    // Far from the core the rings are narrower than a pixel when σ is small: there the pixel
    // integral is the ring-averaged envelope.
    this.farEnvelope = s < 0.64;
    this.farRule = s < 3 ? gl2 : mid;
  }

  /** unit-energy Airy density at squared distance r2 (grid units), 0 beyond the tables */
  private profile2(r2: number): number {
    if (r2 < this.innerMax2) {
      const t = this.inner as Float64Array;
      const f = r2 / this.innerStep;
      const k = f | 0;
      return t[k] + (f - k) * (t[k + 1] - t[k]);
    }
    const t = this.outer as Float64Array;
    const f = Math.sqrt(r2) / this.outerStep;
    const k = f | 0;
    if (k + 1 >= t.length) return 0;
    return t[k] + (f - k) * (t[k + 1] - t[k]);
  }

  private addAiry(
    t: Float32Array | Float64Array,
    width: number,
    gx: number,
    gy: number,
    photons: number,
    c0: number,
    c1: number,
    r0: number,
    r1: number,
  ): void {
    const s = this.s;
    this.ensureAiryTables();
    const core = Math.max(2 * s + 1.5, 5);
    const rmax = this.radius;
    const envNorm = 4 / (Math.PI * Math.PI * s * s) / 8; // (1/πσ²)·4/(π u³) with u³ = 8 q³
    const core2 = core * core;
    const rmax2 = rmax * rmax;
    const cr = this.coreRule as Rule;
    const fr = this.farRule as Rule;
    const useTables = !this.exact;
    const farMid = fr.x.length === 1;
    let coreTab: PixelTable | null = null;
    let farTab: PixelTable | null = null;
    if (useTables) {
      // every distance within this frame (tables grow when a larger frame comes along)
      const own = Math.hypot(Math.max(gx - c0, c1 + 1 - gx), Math.max(gy - r0, r1 + 1 - gy));
      const reach = Math.min(rmax, Math.max(own, Math.hypot(width, t.length / width))) + 1;
      if (cr.x.length > 1) coreTab = this.table('core', cr, 0, Math.min(core, reach));
      if (!this.farEnvelope && fr.x.length > 1 && reach > core) farTab = this.table('far', fr, core, reach);
    }
    for (let row = r0; row <= r1; row++) {
      const dyc = row + 0.5 - gy;
      const dy2 = dyc * dyc;
      const ady = Math.abs(dyc);
      const base = row * width;
      for (let col = c0; col <= c1; col++) {
        const dxc = col + 0.5 - gx;
        const d2 = dxc * dxc + dy2;
        if (d2 > rmax2) continue;
        let v: number;
        if (d2 < core2) {
          v = coreTab ? lookup(coreTab, d2, Math.abs(dxc), ady) : this.quad(cr, col - gx, row - gy);
        } else if (this.farEnvelope) {
          const q = Math.sqrt(d2) / s;
          v = envNorm / (q * q * q);
        } else if (farTab) v = lookup(farTab, d2, Math.abs(dxc), ady);
        else if (farMid) v = this.profile2(d2);
        else v = this.quad(fr, col - gx, row - gy);
        t[base + col] += photons * v;
      }
    }
  }

  /**
   * Pixel values of `rule` over distance d ∈ [from, to] of the pixel centre and t = tan of its
   * angle to the nearest axis (the value is symmetric in ±x, ±y and x↔y). Steps: σ/24 (at most
   * 1/24 px) in d, 1/8 in t — bilinear reads then stay within ~0.3 % of the quadrature itself.
   */
  private table(which: 'core' | 'far', rule: Rule, from: number, to: number): PixelTable {
    const have = which === 'core' ? this.coreTable : this.farTable;
    if (have && have.d1 >= to) return have;
    const step = Math.min(this.s, 1) / 24;
    const nt = 8;
    const d0 = Math.max(0, Math.floor(from / step) - 1) * step;
    const nd = Math.ceil((to - d0) / step) + 2;
    const v = new Float64Array(nd * (nt + 1));
    for (let i = 0; i < nd; i++) {
      const d = d0 + i * step;
      for (let j = 0; j <= nt; j++) {
        const tn = j / nt;
        const cx = d / Math.sqrt(1 + tn * tn);
        v[i * (nt + 1) + j] = this.quad(rule, cx - 0.5, cx * tn - 0.5);
      }
    }
    const tab: PixelTable = { d0, d1: d0 + (nd - 2) * step, inv: 1 / step, nt, v };
    if (which === 'core') this.coreTable = tab;
    else this.farTable = tab;
    return tab;
  }

  /** ∫∫ over the unit pixel whose corner is at (ox, oy) relative to the emitter */
  private quad(rule: Rule, ox: number, oy: number): number {
    const { x, w } = rule;
    const n = x.length;
    let acc = 0;
    for (let j = 0; j < n; j++) {
      const dy = oy + x[j];
      const dy2 = dy * dy;
      let row = 0;
      for (let i = 0; i < n; i++) {
        const dx = ox + x[i];
        row += w[i] * this.profile2(dx * dx + dy2);
      }
      acc += w[j] * row;
    }
    return acc;
  }
}

/**
 * The 1-D factor of the Gaussian psfKernel (same size, same values: that kernel is exactly the
 * outer product of this vector with itself), for separable convolution.
 */
export function gaussKernel1d(psf: Psf, pixelSize: number, radiusPx?: number): Float64Array {
  if (!isCircularGauss(psf)) throw new Error('gaussKernel1d: only the circular Gaussian PSF has one 1-D factor');
  const s = psf.width / pixelSize;
  const half = Math.ceil(radiusPx ?? 4 * s + 1);
  const size = 2 * half + 1;
  // the same centre arithmetic as psfKernel → PsfRenderer.addEmitter, so the values agree bit for bit
  const g = ((half + 0.5) * pixelSize) / pixelSize;
  const r = renderRadius('gauss', s);
  const c0 = Math.max(0, Math.floor(g - r));
  const c1 = Math.min(size - 1, Math.floor(g + r));
  const out = new Float64Array(size);
  if (c1 >= c0) pixelFractions(out.subarray(c0, c1 + 1), c0, c1 - c0 + 1, g, s, 1);
  return out;
}

/**
 * A centred PSF kernel on a grid of `pixelSize` camera px, odd side, emitter at the centre of
 * the centre pixel — for deconvolution. `radiusPx` bounds the half-side in grid pixels.
 */
export function psfKernel(psf: Psf, pixelSize: number, radiusPx?: number): { size: number; data: Float64Array } {
  const s = psfMaxWidth(psf) / pixelSize;
  const half = Math.ceil(radiusPx ?? (psf.shape === 'gauss' ? 4 * s + 1 : Math.max(isAberrated(psf) ? 12 * s : 8 * s, 4)));
  const size = 2 * half + 1;
  const data = new Float64Array(size * size);
  const r = new PsfRenderer(psf, pixelSize, true);
  const c = (half + 0.5) * pixelSize;
  r.addEmitter(data, size, size, c, c, 1);
  return { size, data };
}
