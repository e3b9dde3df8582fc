import { describe, expect, it } from 'vitest';
import { BinnedConvolver, ComplexFft, fftSize, RealFft2d } from '../../../src/optics/fft.ts';
import { gaussKernel1d, psfKernel } from '../../../src/optics/psf.ts';
import { type BlurBin, SeparableBlurBin } from '../../../src/optics/richardson-lucy.ts';

function naiveDft(re: number[], im: number[]): [number[], number[]] {
  const n = re.length;
  const or: number[] = [];
  const oi: number[] = [];
  for (let k = 0; k < n; k++) {
    let a = 0;
    let b = 0;
    for (let t = 0; t < n; t++) {
      const ph = (-2 * Math.PI * k * t) / n;
      a += re[t] * Math.cos(ph) - im[t] * Math.sin(ph);
      b += re[t] * Math.sin(ph) + im[t] * Math.cos(ph);
    }
    or.push(a);
    oi.push(b);
  }
  return [or, oi];
}

/** 'same' zero-padded convolution on the fine grid, then the sum of each scale×scale block */
function directBlurBin(k: { size: number; data: Float64Array }, scale: number, w: number, h: number, fine: Float64Array): Float64Array {
  const fw = w * scale;
  const fh = h * scale;
  const half = (k.size - 1) / 2;
  const out = new Float64Array(w * h);
  for (let y = 0; y < fh; y++) {
    for (let x = 0; x < fw; x++) {
      let acc = 0;
      for (let j = 0; j < k.size; j++) {
        const yy = y - (j - half);
        if (yy < 0 || yy >= fh) continue;
        for (let i = 0; i < k.size; i++) {
          const xx = x - (i - half);
          if (xx >= 0 && xx < fw) acc += k.data[j * k.size + i] * fine[yy * fw + xx];
        }
      }
      out[Math.floor(y / scale) * w + Math.floor(x / scale)] += acc;
    }
  }
  return out;
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let p = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    p = Math.max(p, Math.abs(b[i]));
  }
  return d / p;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

describe('ComplexFft', () => {
  it('equals the naive DFT for mixed-radix lengths, batched, forward and inverse', () => {
    for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 12, 15, 20, 45, 49, 64, 80]) {
      const batch = 3;
      const re = Float64Array.from({ length: n * batch }, (_, i) => Math.sin(1.3 * i + 0.2));
      const im = Float64Array.from({ length: n * batch }, (_, i) => Math.cos(0.7 * i * i));
      const r0 = Float64Array.from(re);
      const i0 = Float64Array.from(im);
      const fft = new ComplexFft(n);
      fft.forward(re, im, batch);
      for (let b = 0; b < batch; b++) {
        const xr = Array.from({ length: n }, (_, t) => r0[b + batch * t]);
        const xi = Array.from({ length: n }, (_, t) => i0[b + batch * t]);
        const [er, ei] = naiveDft(xr, xi);
        for (let k = 0; k < n; k++) {
          expect(Math.abs(re[b + batch * k] - er[k])).toBeLessThan(1e-9 * n);
          expect(Math.abs(im[b + batch * k] - ei[k])).toBeLessThan(1e-9 * n);
        }
      }
      fft.inverse(re, im, batch);
      for (let i = 0; i < re.length; i++) {
        expect(re[i] / n).toBeCloseTo(r0[i], 10);
        expect(im[i] / n).toBeCloseTo(i0[i], 10);
      }
    }
  });

  it('picks padded sizes that are multiples and 5-smooth', () => {
    expect(fftSize(273, 8)).toBe(288);
    expect(fftSize(320, 8)).toBe(320);
    expect(fftSize(13)).toBe(15);
    expect(fftSize(14, 7)).toBe(14);
    for (let n = 1; n < 400; n += 7) {
      const m = fftSize(n, 6);
      expect(m).toBeGreaterThanOrEqual(n);
      expect(m % 6).toBe(0);
      let r = m;
      for (const p of [2, 3, 5]) while (r % p === 0) r /= p;
      expect(r).toBe(1);
    }
  });
});

describe('RealFft2d', () => {
  it('gives the half-plane of the 2-D DFT of a zero-padded image and inverts it', () => {
    const nx = 12;
    const ny = 10;
    const w = 7;
    const h = 5;
    const img = Float64Array.from({ length: w * h }, (_, i) => Math.sin(i * 0.9) + 0.3 * (i % 3));
    const fft = new RealFft2d(nx, ny);
    const re = new Float64Array(fft.size);
    const im = new Float64Array(fft.size);
    fft.forward(img, w, h, re, im);
    for (let ky = 0; ky < ny; ky++) {
      for (let kx = 0; kx <= nx / 2; kx++) {
        let a = 0;
        let b = 0;
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const ph = -2 * Math.PI * ((kx * x) / nx + (ky * y) / ny);
            a += img[y * w + x] * Math.cos(ph);
            b += img[y * w + x] * Math.sin(ph);
          }
        }
        expect(re[ky * fft.mx + kx]).toBeCloseTo(a, 9);
        expect(im[ky * fft.mx + kx]).toBeCloseTo(b, 9);
      }
    }
    const back = new Float64Array(w * h);
    fft.inverse(re, im, back, w, h, 2);
    for (let i = 0; i < back.length; i++) expect(back[i]).toBeCloseTo(2 * img[i], 10);
  });
});

describe('blur-and-bin operators', () => {
  const cases = [
    { psf: { shape: 'gauss' as const, width: 0.9 }, scale: 3, w: 7, h: 5 },
    { psf: { shape: 'gauss' as const, width: 1.6 }, scale: 4, w: 6, h: 8 },
    { psf: { shape: 'airy' as const, width: 1.1 }, scale: 2, w: 9, h: 6 },
  ];
  for (const { psf, scale, w, h } of cases) {
    it(`match direct convolution + binning and are adjoint (${psf.shape}, scale ${scale})`, () => {
      const fw = w * scale;
      const fh = h * scale;
      // kernel wider than the image on purpose: the padding rule must still keep wrap-around out
      const radius = Math.min(4 * psf.width * scale + 1, Math.max(fw, fh));
      const k2 = psfKernel(psf, 1 / scale, radius);
      const fine = Float64Array.from({ length: fw * fh }, (_, i) => 1 + Math.sin(0.37 * i) ** 2 + (i % 11 === 0 ? 5 : 0));
      const cam = Float64Array.from({ length: w * h }, (_, i) => 0.5 + Math.cos(1.1 * i) ** 2);
      const ref = directBlurBin(k2, scale, w, h, fine);
      const ops: BlurBin[] = [new BinnedConvolver(w, h, scale, k2)];
      if (psf.shape === 'gauss') ops.push(new SeparableBlurBin(gaussKernel1d(psf, 1 / scale, radius), scale, w, h));
      for (const op of ops) {
        const y = new Float64Array(w * h);
        op.forward(fine, y);
        expect(maxRelDiff(y, ref)).toBeLessThan(1e-12);
        const back = new Float64Array(fw * fh);
        op.adjoint(cam, back);
        expect(Math.abs(dot(y, cam) - dot(fine, back)) / Math.abs(dot(y, cam))).toBeLessThan(1e-12);
      }
    });
  }

  it('the 1-D Gaussian factor reproduces the 2-D kernel exactly', () => {
    const psf = { shape: 'gauss' as const, width: 1.3 };
    const k2 = psfKernel(psf, 1 / 3, 9);
    const k1 = gaussKernel1d(psf, 1 / 3, 9);
    expect(k1.length).toBe(k2.size);
    for (let j = 0; j < k2.size; j++) for (let i = 0; i < k2.size; i++) expect(k2.data[j * k2.size + i]).toBe(k1[j] * k1[i]);
  });
});
