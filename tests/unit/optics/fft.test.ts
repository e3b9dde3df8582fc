import { describe, expect, it } from 'vitest';
import { FftConvolver, nextPow2 } from '../../../src/optics/fft.ts';

describe('FftConvolver', () => {
  it('equals direct zero-padded convolution', () => {
    const W = 19;
    const H = 11;
    const K = 5;
    const img = Float64Array.from({ length: W * H }, (_, i) => Math.sin(i * 1.7) + 1);
    const ker = Float64Array.from({ length: K * K }, (_, i) => ((i * 7) % 5) + 0.5);
    const out = new Float64Array(W * H);
    new FftConvolver(W, H, { size: K, data: ker }).convolve(img, out);
    const h = (K - 1) / 2;
    let maxErr = 0;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let s = 0;
        for (let j = 0; j < K; j++) {
          for (let i = 0; i < K; i++) {
            const yy = y - (j - h);
            const xx = x - (i - h);
            if (yy >= 0 && yy < H && xx >= 0 && xx < W) s += ker[j * K + i] * img[yy * W + xx];
          }
        }
        maxErr = Math.max(maxErr, Math.abs(s - out[y * W + x]));
      }
    }
    expect(maxErr).toBeLessThan(1e-10);
    expect(nextPow2(300)).toBe(512);
  });
});
