/**
 * FFTs for the deconvolution: a mixed-radix (2, 3, 4, 5, any odd prime) Stockham FFT so padded
 * sizes need not be powers of two, a real-input 2-D transform on half planes, and the two
 * convolution operators built on it. Linear convolution pads to image + kernel half-width (the
 * 'same' crop never reads wrapped samples), so light leaving the field is lost, as in the
 * forward model.
 */

export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return Math.max(p, 4);
}

function largestPrimeFactor(n: number): number {
  let m = n;
  let best = 1;
  for (let p = 2; p * p <= m; p++) {
    while (m % p === 0) {
      best = p;
      m /= p;
    }
  }
  return m > 1 ? Math.max(best, m) : best;
}

/**
 * Smallest n ≥ min that is a multiple of `multipleOf` and has no prime factor above 5 (or above
 * the largest one of `multipleOf`, which has to divide n anyway): the sizes with hand-written
 * butterflies.
 */
export function fftSize(min: number, multipleOf = 1): number {
  const limit = Math.max(5, largestPrimeFactor(multipleOf));
  let n = Math.max(multipleOf, Math.ceil(min / multipleOf) * multipleOf);
  while (largestPrimeFactor(n) > limit) n += multipleOf;
  return n;
}

interface Stage {
  radix: number;
  /** sub-sequence length before this stage */
  len: number;
  /** twiddles w^(p·u), w = e^(-2πi/len), at [p·radix + u] */
  twr: Float64Array;
  twi: Float64Array;
}

/**
 * Complex DFT of length n over `batch` interleaved sequences (element t of sequence b at
 * b + batch·t), on split re/im arrays, in place. Batching makes the inner loops long and
 * contiguous, which is what JS engines run fastest.
 */
export class ComplexFft {
  readonly n: number;
  private readonly stages: Stage[] = [];
  private sr = new Float64Array(0);
  private si = new Float64Array(0);

  constructor(n: number) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`invalid FFT length ${n}`);
    this.n = n;
    const radices: number[] = [];
    let m = n;
    while (m % 4 === 0) {
      radices.push(4);
      m /= 4;
    }
    for (let p = 2; m > 1; p++) {
      while (m % p === 0) {
        radices.push(p);
        m /= p;
      }
    }
    let len = n;
    for (const radix of radices) {
      const sub = len / radix;
      const twr = new Float64Array(sub * radix);
      const twi = new Float64Array(sub * radix);
      for (let p = 0; p < sub; p++) {
        for (let u = 0; u < radix; u++) {
          const a = (-2 * Math.PI * ((p * u) % len)) / len;
          twr[p * radix + u] = Math.cos(a);
          twi[p * radix + u] = Math.sin(a);
        }
      }
      this.stages.push({ radix, len, twr, twi });
      len = sub;
    }
  }

  /** forward (e^(-2πi·kt/n)), unnormalised */
  forward(re: Float64Array, im: Float64Array, batch: number): void {
    const total = this.n * batch;
    if (this.sr.length < total) {
      this.sr = new Float64Array(total);
      this.si = new Float64Array(total);
    }
    let xr: Float64Array = re;
    let xi: Float64Array = im;
    let yr: Float64Array = this.sr;
    let yi: Float64Array = this.si;
    let s = batch;
    for (const st of this.stages) {
      if (st.radix === 4) radix4(st, s, xr, xi, yr, yi);
      else if (st.radix === 2) radix2(st, s, xr, xi, yr, yi);
      else if (st.radix === 3) radix3(st, s, xr, xi, yr, yi);
      else if (st.radix === 5) radix5(st, s, xr, xi, yr, yi);
      else radixGeneric(st, s, xr, xi, yr, yi);
      s *= st.radix;
      const tr = xr;
      const ti = xi;
      xr = yr;
      xi = yi;
      yr = tr;
      yi = ti;
    }
    if (xr !== re) {
      re.set(xr.subarray(0, total));
      im.set(xi.subarray(0, total));
    }
  }

  /** inverse (e^(+2πi·kt/n)), unnormalised: the forward transform with re and im swapped */
  inverse(re: Float64Array, im: Float64Array, batch: number): void {
    this.forward(im, re, batch);
  }
}

// Stockham autosort stage: a_t = x[q + s(p + t·m)], y[q + s(r·p + u)] = w^(p·u) · Σ_t a_t ω_r^(t·u)

function radix2(st: Stage, s: number, xr: Float64Array, xi: Float64Array, yr: Float64Array, yi: Float64Array): void {
  const m = st.len / 2;
  const { twr, twi } = st;
  for (let p = 0; p < m; p++) {
    const w1r = twr[2 * p + 1];
    const w1i = twi[2 * p + 1];
    const i0 = s * p;
    const i1 = s * (p + m);
    const o0 = 2 * s * p;
    const o1 = o0 + s;
    for (let q = 0; q < s; q++) {
      const ar = xr[i0 + q];
      const ai = xi[i0 + q];
      const br = xr[i1 + q];
      const bi = xi[i1 + q];
      yr[o0 + q] = ar + br;
      yi[o0 + q] = ai + bi;
      const dr = ar - br;
      const di = ai - bi;
      yr[o1 + q] = dr * w1r - di * w1i;
      yi[o1 + q] = dr * w1i + di * w1r;
    }
  }
}

function radix4(st: Stage, s: number, xr: Float64Array, xi: Float64Array, yr: Float64Array, yi: Float64Array): void {
  const m = st.len / 4;
  const { twr, twi } = st;
  for (let p = 0; p < m; p++) {
    const w1r = twr[4 * p + 1];
    const w1i = twi[4 * p + 1];
    const w2r = twr[4 * p + 2];
    const w2i = twi[4 * p + 2];
    const w3r = twr[4 * p + 3];
    const w3i = twi[4 * p + 3];
    const i0 = s * p;
    const i1 = s * (p + m);
    const i2 = s * (p + 2 * m);
    const i3 = s * (p + 3 * m);
    const o0 = 4 * s * p;
    const o1 = o0 + s;
    const o2 = o1 + s;
    const o3 = o2 + s;
    for (let q = 0; q < s; q++) {
      const a0r = xr[i0 + q];
      const a0i = xi[i0 + q];
      const a1r = xr[i1 + q];
      const a1i = xi[i1 + q];
      const a2r = xr[i2 + q];
      const a2i = xi[i2 + q];
      const a3r = xr[i3 + q];
      const a3i = xi[i3 + q];
      const s02r = a0r + a2r;
      const s02i = a0i + a2i;
      const d02r = a0r - a2r;
      const d02i = a0i - a2i;
      const s13r = a1r + a3r;
      const s13i = a1i + a3i;
      // -i·(a1 - a3)
      const d13r = a1i - a3i;
      const d13i = a3r - a1r;
      yr[o0 + q] = s02r + s13r;
      yi[o0 + q] = s02i + s13i;
      const b1r = d02r + d13r;
      const b1i = d02i + d13i;
      yr[o1 + q] = b1r * w1r - b1i * w1i;
      yi[o1 + q] = b1r * w1i + b1i * w1r;
      const b2r = s02r - s13r;
      const b2i = s02i - s13i;
      yr[o2 + q] = b2r * w2r - b2i * w2i;
      yi[o2 + q] = b2r * w2i + b2i * w2r;
      const b3r = d02r - d13r;
      const b3i = d02i - d13i;
      yr[o3 + q] = b3r * w3r - b3i * w3i;
      yi[o3 + q] = b3r * w3i + b3i * w3r;
    }
  }
}

const SIN60 = Math.sqrt(3) / 2;

function radix3(st: Stage, s: number, xr: Float64Array, xi: Float64Array, yr: Float64Array, yi: Float64Array): void {
  const m = st.len / 3;
  const { twr, twi } = st;
  for (let p = 0; p < m; p++) {
    const w1r = twr[3 * p + 1];
    const w1i = twi[3 * p + 1];
    const w2r = twr[3 * p + 2];
    const w2i = twi[3 * p + 2];
    const i0 = s * p;
    const i1 = s * (p + m);
    const i2 = s * (p + 2 * m);
    const o0 = 3 * s * p;
    const o1 = o0 + s;
    const o2 = o1 + s;
    for (let q = 0; q < s; q++) {
      const a0r = xr[i0 + q];
      const a0i = xi[i0 + q];
      const a1r = xr[i1 + q];
      const a1i = xi[i1 + q];
      const a2r = xr[i2 + q];
      const a2i = xi[i2 + q];
      const tr = a1r + a2r;
      const ti = a1i + a2i;
      const mr = a0r - 0.5 * tr;
      const mi = a0i - 0.5 * ti;
      // -i·sin60·(a1 - a2)
      const nr = SIN60 * (a1i - a2i);
      const ni = -SIN60 * (a1r - a2r);
      yr[o0 + q] = a0r + tr;
      yi[o0 + q] = a0i + ti;
      const b1r = mr + nr;
      const b1i = mi + ni;
      yr[o1 + q] = b1r * w1r - b1i * w1i;
      yi[o1 + q] = b1r * w1i + b1i * w1r;
      const b2r = mr - nr;
      const b2i = mi - ni;
      yr[o2 + q] = b2r * w2r - b2i * w2i;
      yi[o2 + q] = b2r * w2i + b2i * w2r;
    }
  }
}

const C1 = Math.cos((2 * Math.PI) / 5);
const C2 = Math.cos((4 * Math.PI) / 5);
const S1 = Math.sin((2 * Math.PI) / 5);
const S2 = Math.sin((4 * Math.PI) / 5);

function radix5(st: Stage, s: number, xr: Float64Array, xi: Float64Array, yr: Float64Array, yi: Float64Array): void {
  const m = st.len / 5;
  const { twr, twi } = st;
  for (let p = 0; p < m; p++) {
    const tb = 5 * p;
    const i0 = s * p;
    const sm = s * m;
    const o0 = 5 * s * p;
    for (let q = 0; q < s; q++) {
      const a0r = xr[i0 + q];
      const a0i = xi[i0 + q];
      const a1r = xr[i0 + sm + q];
      const a1i = xi[i0 + sm + q];
      const a2r = xr[i0 + 2 * sm + q];
      const a2i = xi[i0 + 2 * sm + q];
      const a3r = xr[i0 + 3 * sm + q];
      const a3i = xi[i0 + 3 * sm + q];
      const a4r = xr[i0 + 4 * sm + q];
      const a4i = xi[i0 + 4 * sm + q];
      const A1r = a1r + a4r;
      const A1i = a1i + a4i;
      const B1r = a1r - a4r;
      const B1i = a1i - a4i;
      const A2r = a2r + a3r;
      const A2i = a2i + a3i;
      const B2r = a2r - a3r;
      const B2i = a2i - a3i;
      yr[o0 + q] = a0r + A1r + A2r;
      yi[o0 + q] = a0i + A1i + A2i;
      const p1r = a0r + C1 * A1r + C2 * A2r;
      const p1i = a0i + C1 * A1i + C2 * A2i;
      const p2r = a0r + C2 * A1r + C1 * A2r;
      const p2i = a0i + C2 * A1i + C1 * A2i;
      // -i·(S1·B1 + S2·B2) and -i·(S2·B1 - S1·B2)
      const q1r = S1 * B1i + S2 * B2i;
      const q1i = -(S1 * B1r + S2 * B2r);
      const q2r = S2 * B1i - S1 * B2i;
      const q2i = -(S2 * B1r - S1 * B2r);
      const bs = [p1r + q1r, p1i + q1i, p2r + q2r, p2i + q2i, p2r - q2r, p2i - q2i, p1r - q1r, p1i - q1i];
      for (let u = 1; u < 5; u++) {
        const br = bs[2 * u - 2];
        const bi = bs[2 * u - 1];
        const wr = twr[tb + u];
        const wi = twi[tb + u];
        yr[o0 + u * s + q] = br * wr - bi * wi;
        yi[o0 + u * s + q] = br * wi + bi * wr;
      }
    }
  }
}

/** any radix, O(r²) per butterfly: only for odd primes > 5 of an unusual scale factor */
function radixGeneric(st: Stage, s: number, xr: Float64Array, xi: Float64Array, yr: Float64Array, yi: Float64Array): void {
  const r = st.radix;
  const m = st.len / r;
  const { twr, twi } = st;
  const ar = new Float64Array(r);
  const ai = new Float64Array(r);
  const cr = new Float64Array(r);
  const ci = new Float64Array(r);
  for (let k = 0; k < r; k++) {
    cr[k] = Math.cos((-2 * Math.PI * k) / r);
    ci[k] = Math.sin((-2 * Math.PI * k) / r);
  }
  for (let p = 0; p < m; p++) {
    for (let q = 0; q < s; q++) {
      for (let t = 0; t < r; t++) {
        ar[t] = xr[q + s * (p + t * m)];
        ai[t] = xi[q + s * (p + t * m)];
      }
      for (let u = 0; u < r; u++) {
        let br = 0;
        let bi = 0;
        for (let t = 0; t < r; t++) {
          const k = (t * u) % r;
          br += ar[t] * cr[k] - ai[t] * ci[k];
          bi += ar[t] * ci[k] + ai[t] * cr[k];
        }
        const wr = twr[p * r + u];
        const wi = twi[p * r + u];
        yr[q + s * (r * p + u)] = br * wr - bi * wi;
        yi[q + s * (r * p + u)] = br * wi + bi * wr;
      }
    }
  }
}

/**
 * Real-input 2-D DFT on an ny × nx grid (nx even). Spectra are the half plane kx = 0..nx/2,
 * stored row-major (ny rows of mx = nx/2 + 1) as split re/im arrays. Each real row is
 * transformed as a complex sequence of half the length (even samples real, odd imaginary).
 */
export class RealFft2d {
  readonly nx: number;
  readonly ny: number;
  readonly mx: number;
  private readonly half: number;
  private readonly rowFft: ComplexFft;
  private readonly colFft: ComplexFft;
  /** e^(-2πi·k/nx), k = 0..nx/2 */
  private readonly wr: Float64Array;
  private readonly wi: Float64Array;
  private zr = new Float64Array(0);
  private zi = new Float64Array(0);

  constructor(nx: number, ny: number) {
    if (nx % 2 !== 0 || nx < 2 || ny < 1) throw new Error(`invalid real FFT size ${nx}x${ny}`);
    this.nx = nx;
    this.ny = ny;
    this.half = nx / 2;
    this.mx = this.half + 1;
    this.rowFft = new ComplexFft(this.half);
    this.colFft = new ComplexFft(ny);
    this.wr = new Float64Array(this.mx);
    this.wi = new Float64Array(this.mx);
    for (let k = 0; k < this.mx; k++) {
      this.wr[k] = Math.cos((-2 * Math.PI * k) / nx);
      this.wi[k] = Math.sin((-2 * Math.PI * k) / nx);
    }
  }

  /** length of each spectrum array */
  get size(): number {
    return this.ny * this.mx;
  }

  private scratch(rows: number): void {
    const need = rows * this.half;
    if (this.zr.length < need) {
      this.zr = new Float64Array(need);
      this.zi = new Float64Array(need);
    }
  }

  /** spectrum of a w×h row-major image placed top-left and zero-padded (w ≤ nx, h ≤ ny) */
  forward(src: ArrayLike<number>, w: number, h: number, re: Float64Array, im: Float64Array): void {
    const { half, mx, wr, wi } = this;
    this.scratch(h);
    const { zr, zi } = this;
    // rows, transposed so that the row transforms run as one batch: z[k·h + y]
    for (let y = 0; y < h; y++) {
      const o = y * w;
      for (let k = 0; k < half; k++) {
        const x0 = 2 * k;
        zr[k * h + y] = x0 < w ? src[o + x0] : 0;
        zi[k * h + y] = x0 + 1 < w ? src[o + x0 + 1] : 0;
      }
    }
    this.rowFft.forward(zr, zi, h);
    for (let y = 0; y < h; y++) {
      const o = y * mx;
      for (let k = 0; k <= half; k++) {
        const a = (k % half) * h + y;
        const b = ((half - k) % half) * h + y;
        const pr = zr[a];
        const pi = zi[a];
        const cr = zr[b];
        const ci = -zi[b];
        // even part E = (Z_k + conj Z_{H-k})/2, odd part O = (Z_k - conj Z_{H-k})/(2i)
        const er = 0.5 * (pr + cr);
        const ei = 0.5 * (pi + ci);
        const or = 0.5 * (pi - ci);
        const oi = -0.5 * (pr - cr);
        re[o + k] = er + wr[k] * or - wi[k] * oi;
        im[o + k] = ei + wr[k] * oi + wi[k] * or;
      }
    }
    re.fill(0, h * mx, this.ny * mx);
    im.fill(0, h * mx, this.ny * mx);
    this.colFft.forward(re, im, mx);
  }

  /**
   * Top-left w×h block of the real inverse transform, normalised (1/(nx·ny)) and multiplied by
   * `gain`. Overwrites re/im.
   */
  inverse(re: Float64Array, im: Float64Array, dst: Float64Array, w: number, h: number, gain = 1): void {
    const { half, mx, wr, wi } = this;
    this.colFft.inverse(re, im, mx);
    this.scratch(h);
    const { zr, zi } = this;
    for (let y = 0; y < h; y++) {
      const o = y * mx;
      for (let k = 0; k < half; k++) {
        const pr = re[o + k];
        const pi = im[o + k];
        const cr = re[o + half - k];
        const ci = -im[o + half - k];
        const er = 0.5 * (pr + cr);
        const ei = 0.5 * (pi + ci);
        // O = (X_k - conj X_{H-k})·e^(+2πik/nx)/2
        const dr = 0.5 * (pr - cr);
        const di = 0.5 * (pi - ci);
        const or = dr * wr[k] + di * wi[k];
        const oi = di * wr[k] - dr * wi[k];
        // Z = E + i·O
        zr[k * h + y] = er - oi;
        zi[k * h + y] = ei + or;
      }
    }
    this.rowFft.inverse(zr, zi, h);
    const scale = gain / (this.half * this.ny);
    for (let y = 0; y < h; y++) {
      const o = y * w;
      for (let x = 0; x < w; x++) {
        const k = x >> 1;
        dst[o + x] = scale * (x & 1 ? zi[k * h + y] : zr[k * h + y]);
      }
    }
  }
}

export interface Kernel2D {
  /** odd side length; the kernel's origin is its centre pixel */
  size: number;
  data: Float64Array;
}

/** Convolution of width×height images with one fixed kernel ('same' output size). */
export class FftConvolver {
  readonly width: number;
  readonly height: number;
  private readonly fft: RealFft2d;
  private readonly kr: Float64Array;
  private readonly ki: Float64Array;
  private readonly re: Float64Array;
  private readonly im: Float64Array;
  private readonly out: Float64Array;

  constructor(width: number, height: number, kernel: Kernel2D) {
    if (kernel.size % 2 !== 1) throw new Error('kernel side must be odd');
    this.width = width;
    this.height = height;
    const half = (kernel.size - 1) / 2;
    const fft = new RealFft2d(fftSize(width + half, 2), fftSize(height + half));
    this.fft = fft;
    this.kr = new Float64Array(fft.size);
    this.ki = new Float64Array(fft.size);
    this.re = new Float64Array(fft.size);
    this.im = new Float64Array(fft.size);
    this.out = new Float64Array(width * height);
    fft.forward(wrapKernel(kernel, fft.nx, fft.ny, 1), fft.nx, fft.ny, this.kr, this.ki);
  }

  /** out = kernel ⊛ input (both width×height, row-major); out may alias input */
  convolve(input: ArrayLike<number>, out: Float64Array | Float32Array): void {
    const { fft, re, im, kr, ki } = this;
    fft.forward(input, this.width, this.height, re, im);
    for (let i = 0; i < re.length; i++) {
      const a = re[i];
      const b = im[i];
      re[i] = a * kr[i] - b * ki[i];
      im[i] = a * ki[i] + b * kr[i];
    }
    fft.inverse(re, im, this.out, this.width, this.height);
    out.set(this.out);
  }
}

/**
 * Kernel with its centre at (0, 0), wrapped onto an nx × ny grid, box-summed over `bin` × `bin`:
 * g[e] = Σ_{0≤j<bin} k[e + j] per axis, so sampling g ⊛ x at multiples of `bin` equals summing
 * k ⊛ x over each bin × bin block. Overlapping wrapped taps add; the padding guarantees that no
 * output that is read mixes them.
 */
function wrapKernel(kernel: Kernel2D, nx: number, ny: number, bin: number): Float64Array {
  const { size, data } = kernel;
  const half = (size - 1) / 2;
  const g = new Float64Array(nx * ny);
  const mod = (v: number, n: number): number => ((v % n) + n) % n;
  for (let j = 0; j < size; j++) {
    for (let i = 0; i < size; i++) {
      const v = data[j * size + i];
      if (v === 0) continue;
      for (let by = 0; by < bin; by++) {
        const y = mod(j - half - by, ny);
        for (let bx = 0; bx < bin; bx++) g[y * nx + mod(i - half - bx, nx)] += v;
      }
    }
  }
  return g;
}

/**
 * The forward model of a `scale`× finer grid seen by the camera, A = B H (H: 'same' convolution
 * with the kernel on the fine grid; B: sum of each scale×scale block), and its adjoint Aᵀ = Hᵀ Bᵀ.
 * The binning is folded into the spectrum: sampling at every scale-th point aliases the fine
 * spectrum onto a scale× smaller one, so each direction costs one fine-grid transform and one
 * camera-grid transform.
 */
export class BinnedConvolver {
  readonly width: number;
  readonly height: number;
  readonly scale: number;
  private readonly fine: RealFft2d;
  private readonly coarse: RealFft2d;
  private readonly gr: Float64Array;
  private readonly gi: Float64Array;
  private readonly re: Float64Array;
  private readonly im: Float64Array;
  private readonly cre: Float64Array;
  private readonly cim: Float64Array;

  /** width/height: camera pixels; the kernel lives on the fine grid */
  constructor(width: number, height: number, scale: number, kernel: Kernel2D) {
    if (kernel.size % 2 !== 1) throw new Error('kernel side must be odd');
    this.width = width;
    this.height = height;
    this.scale = scale;
    const half = (kernel.size - 1) / 2;
    const nx = fftSize(width * scale + half, 2 * scale);
    const ny = fftSize(height * scale + half, scale);
    this.fine = new RealFft2d(nx, ny);
    this.coarse = new RealFft2d(nx / scale, ny / scale);
    this.gr = new Float64Array(this.fine.size);
    this.gi = new Float64Array(this.fine.size);
    this.re = new Float64Array(this.fine.size);
    this.im = new Float64Array(this.fine.size);
    this.cre = new Float64Array(this.coarse.size);
    this.cim = new Float64Array(this.coarse.size);
    this.fine.forward(wrapKernel(kernel, nx, ny, scale), nx, ny, this.gr, this.gi);
  }

  /** camera (width×height) = B H fine ((width·scale)×(height·scale)) */
  forward(fine: ArrayLike<number>, camera: Float64Array): void {
    const { scale: s, re, im, gr, gi, cre, cim } = this;
    const { nx, ny, mx } = this.fine;
    const cnx = this.coarse.nx;
    const cny = this.coarse.ny;
    const cmx = this.coarse.mx;
    this.fine.forward(fine, this.width * s, this.height * s, re, im);
    const hx = nx / 2;
    for (let cy = 0; cy < cny; cy++) {
      for (let cx = 0; cx < cmx; cx++) {
        let ar = 0;
        let ai = 0;
        for (let a = 0; a < s; a++) {
          const ky = cy + a * cny;
          const row = ky * mx;
          const mirrorRow = ((ny - ky) % ny) * mx;
          for (let b = 0; b < s; b++) {
            const kx = cx + b * cnx;
            if (kx <= hx) {
              const i = row + kx;
              ar += re[i] * gr[i] - im[i] * gi[i];
              ai += re[i] * gi[i] + im[i] * gr[i];
            } else {
              // Hermitian half plane: Z(ky, kx) = conj Z(-ky, -kx)
              const i = mirrorRow + nx - kx;
              ar += re[i] * gr[i] - im[i] * gi[i];
              ai -= re[i] * gi[i] + im[i] * gr[i];
            }
          }
        }
        cre[cy * cmx + cx] = ar;
        cim[cy * cmx + cx] = ai;
      }
    }
    this.coarse.inverse(cre, cim, camera, this.width, this.height, 1 / (s * s));
  }

  /** fine ((width·scale)×(height·scale)) = Hᵀ Bᵀ camera (width×height) */
  adjoint(camera: ArrayLike<number>, fine: Float64Array): void {
    const { scale: s, re, im, gr, gi, cre, cim } = this;
    const { ny, mx } = this.fine;
    const cnx = this.coarse.nx;
    const cny = this.coarse.ny;
    const cmx = this.coarse.mx;
    this.coarse.forward(camera, this.width, this.height, cre, cim);
    // Bᵀ puts each camera value on the first fine pixel of its block (the box is in g): its
    // spectrum is the camera spectrum repeated scale× in each direction.
    for (let ky = 0; ky < ny; ky++) {
      const cy = ky % cny;
      const row = cy * cmx;
      const mirrorRow = ((cny - cy) % cny) * cmx;
      const o = ky * mx;
      let cx = 0;
      for (let kx = 0; kx < mx; kx++) {
        let ur: number;
        let ui: number;
        if (cx < cmx) {
          ur = cre[row + cx];
          ui = cim[row + cx];
        } else {
          ur = cre[mirrorRow + cnx - cx];
          ui = -cim[mirrorRow + cnx - cx];
        }
        const i = o + kx;
        // × conj G: correlation with the kernel
        re[i] = ur * gr[i] + ui * gi[i];
        im[i] = ui * gr[i] - ur * gi[i];
        if (++cx === cnx) cx = 0;
      }
    }
    this.fine.inverse(re, im, fine, this.width * s, this.height * s);
  }
}
