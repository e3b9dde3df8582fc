/** A single-channel image, row-major, float32. The one pixel container every module shares. */
export interface Image {
  width: number;
  height: number;
  data: Float32Array;
}

export function makeImage(width: number, height: number, data?: Float32Array): Image {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`invalid image size ${width}x${height}`);
  }
  const d = data ?? new Float32Array(width * height);
  if (d.length !== width * height) {
    throw new Error(`image data length ${d.length} does not match ${width}x${height}`);
  }
  return { width, height, data: d };
}

export function imageSum(img: Image): number {
  let s = 0;
  for (let i = 0; i < img.data.length; i++) s += img.data[i];
  return s;
}

/** Subtract the minimum and scale to unit sum (the model input/output contract). */
export function normaliseUnitSum(img: Image): Image {
  const out = new Float32Array(img.data.length);
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < img.data.length; i++) if (img.data[i] < min) min = img.data[i];
  let sum = 0;
  for (let i = 0; i < out.length; i++) {
    const v = img.data[i] - min;
    out[i] = v;
    sum += v;
  }
  if (sum > 0) for (let i = 0; i < out.length; i++) out[i] /= sum;
  else out.fill(1 / out.length);
  return makeImage(img.width, img.height, out);
}
