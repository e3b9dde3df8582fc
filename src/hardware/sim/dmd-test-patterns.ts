/**
 * Binary stand-ins for the controllers' internal test patterns, so the simulated camera has
 * something to image in test-pattern mode. Geometry is ours (16-mirror period), not TI's: the real
 * generators' line widths and periods are configurable and differ by controller. Grey-level
 * patterns (ramps, colour bars) have no binary equivalent and show as a solid field.
 */
import { type Mask, maskFromBits } from '../patterns.ts';

const PERIOD = 16;

export function testPatternMask(name: string, width: number, height: number): Mask {
  const bits = new Uint8Array(width * height);
  const on = (x: number, y: number): boolean => {
    switch (name) {
      case 'horizontal-lines':
        return y % PERIOD === 0;
      case 'vertical-lines':
        return x % PERIOD === 0;
      case 'diagonal-lines':
        return (x + y) % PERIOD === 0;
      case 'grid':
        return x % PERIOD === 0 || y % PERIOD === 0;
      case 'checkerboard':
        return (Math.floor(x / PERIOD) + Math.floor(y / PERIOD)) % 2 === 0;
      default:
        return true;
    }
  };
  for (let y = 0, i = 0; y < height; y++) for (let x = 0; x < width; x++, i++) bits[i] = on(x, y) ? 1 : 0;
  return maskFromBits(width, height, bits);
}
