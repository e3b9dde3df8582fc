import { UserError } from '../errors.ts';

/**
 * The most pixels an image reader decodes: 2^26 ≈ 67 Mpx, room for the largest sensor the camera
 * schema accepts (9152×6944 ≈ 63.6 Mpx). A compressed file declares its size in a header;
 * decoding first and checking after let an 875 KB PNG declaring 30000×30000 reach 6 GB. Every
 * reader checks the declared size against this before it allocates anything for the pixels.
 */
export const MAX_IMAGE_PIXELS = 2 ** 26;

export function checkPixelBudget(width: number, height: number, name: string, maxPixels = MAX_IMAGE_PIXELS): void {
  if (!(Number.isSafeInteger(width) && Number.isSafeInteger(height)) || width * height > maxPixels) {
    throw new UserError(
      `${name}: image of ${width}×${height} pixels exceeds the ${(maxPixels / 1e6).toFixed(1)} Mpx limit for an input image`,
    );
  }
}
