/**
 * 2-D linear convolution through FFTs (fft.js, radix-4, power-of-two sizes). Zero padding to at
 * least image + kernel − 1 in each direction, so nothing wraps around: light leaving the field
 * is lost, as in the forward model.
 */
import FFT from 'fft.js';

export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return Math.max(p, 4); // fft.js needs size ≥ 2 and a power of two; 4 keeps radix-4 happy
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
  private readonly pw: number;
  private readonly ph: number;
  private readonly half: number;
  private readonly rowFft: FFT;
  private readonly colFft: FFT;
  private readonly spectrum: Float64Array; // ph × pw complex, interleaved
  private readonly work: Float64Array;
  private readonly rowIn: Float64Array;
  private readonly rowOut: Float64Array;
  private readonly colIn: Float64Array;
  private readonly colOut: Float64Array;

  constructor(width: number, height: number, kernel: Kernel2D) {
    if (kernel.size % 2 !== 1) throw new Error('kernel side must be odd');
    this.width = width;
    this.height = height;
    this.half = (kernel.size - 1) / 2;
    this.pw = nextPow2(width + kernel.size - 1);
    this.ph = nextPow2(height + kernel.size - 1);
    this.rowFft = new FFT(this.pw);
    this.colFft = new FFT(this.ph);
    this.work = new Float64Array(2 * this.pw * this.ph);
    this.rowIn = new Float64Array(2 * this.pw);
    this.rowOut = new Float64Array(2 * this.pw);
    this.colIn = new Float64Array(2 * this.ph);
    this.colOut = new Float64Array(2 * this.ph);
    // Kernel stored with its centre at (0, 0), wrapped: the product of spectra then yields a
    // convolution already aligned with the input ('same' crop = top-left width×height).
    const k = new Float64Array(2 * this.pw * this.ph);
    const { size, data } = kernel;
    for (let j = 0; j < size; j++) {
      const y = (j - this.half + this.ph) % this.ph;
      for (let i = 0; i < size; i++) {
        const x = (i - this.half + this.pw) % this.pw;
        k[2 * (y * this.pw + x)] = data[j * size + i];
      }
    }
    this.spectrum = k;
    this.forward2d(this.spectrum, this.ph);
  }

  /** out = kernel ⊛ input (both width×height, row-major); out may alias input */
  convolve(input: ArrayLike<number>, out: Float64Array | Float32Array): void {
    const { width, height, pw, work } = this;
    work.fill(0);
    for (let y = 0; y < height; y++) {
      const o = 2 * y * pw;
      for (let x = 0; x < width; x++) work[o + 2 * x] = input[y * width + x];
    }
    this.forward2d(work, height);
    const s = this.spectrum;
    for (let i = 0; i < work.length; i += 2) {
      const a = work[i];
      const b = work[i + 1];
      const c = s[i];
      const d = s[i + 1];
      work[i] = a * c - b * d;
      work[i + 1] = a * d + b * c;
    }
    this.inverse2d(work, height);
    for (let y = 0; y < height; y++) {
      const o = 2 * y * pw;
      for (let x = 0; x < width; x++) out[y * width + x] = work[o + 2 * x];
    }
  }

  /**
   * In-place 2-D FFT of a real image (stored in the real parts; only the first `rows` rows may
   * be non-zero). Rows use the real transform; since each row spectrum is Hermitian only columns
   * 0..pw/2 are transformed — the rest is never read.
   */
  private forward2d(a: Float64Array, rows: number): void {
    const { pw, ph, rowFft, colFft, rowIn, rowOut, colIn, colOut } = this;
    const realRow = rowIn.subarray(0, pw);
    for (let y = 0; y < rows; y++) {
      const o = 2 * y * pw;
      for (let i = 0; i < pw; i++) realRow[i] = a[o + 2 * i];
      rowFft.realTransform(rowOut, realRow);
      for (let i = 0; i <= pw; i++) a[o + i] = rowOut[i];
      a[o + pw + 1] = rowOut[pw + 1];
    }
    const halfCols = pw / 2 + 1;
    for (let x = 0; x < halfCols; x++) {
      for (let y = 0; y < ph; y++) {
        colIn[2 * y] = a[2 * (y * pw + x)];
        colIn[2 * y + 1] = a[2 * (y * pw + x) + 1];
      }
      colFft.transform(colOut, colIn);
      for (let y = 0; y < ph; y++) {
        a[2 * (y * pw + x)] = colOut[2 * y];
        a[2 * (y * pw + x) + 1] = colOut[2 * y + 1];
      }
    }
  }

  /** inverse of forward2d for a real result; only the first `rows` output rows are computed */
  private inverse2d(a: Float64Array, rows: number): void {
    const { pw, ph, rowFft, colFft, rowIn, rowOut, colIn, colOut } = this;
    const halfCols = pw / 2 + 1;
    for (let x = 0; x < halfCols; x++) {
      for (let y = 0; y < ph; y++) {
        colIn[2 * y] = a[2 * (y * pw + x)];
        colIn[2 * y + 1] = a[2 * (y * pw + x) + 1];
      }
      colFft.inverseTransform(colOut, colIn);
      for (let y = 0; y < ph; y++) {
        a[2 * (y * pw + x)] = colOut[2 * y];
        a[2 * (y * pw + x) + 1] = colOut[2 * y + 1];
      }
    }
    for (let y = 0; y < rows; y++) {
      const o = 2 * y * pw;
      for (let i = 0; i < 2 * halfCols; i++) rowIn[i] = a[o + i];
      // rebuild the upper half of the (Hermitian) row spectrum
      for (let x = halfCols; x < pw; x++) {
        rowIn[2 * x] = a[o + 2 * (pw - x)];
        rowIn[2 * x + 1] = -a[o + 2 * (pw - x) + 1];
      }
      rowFft.inverseTransform(rowOut, rowIn);
      for (let i = 0; i < 2 * pw; i++) a[o + i] = rowOut[i];
    }
  }
}
