/**
 * A super-resolved result as one FITS file for astronomers: the primary HDU is the output map
 * (float32, on the model's finer grid) with the input frame's header keywords carried over, the
 * first extension a binary table `LOCALIZATIONS` (one row per emitter). Pixel-size keywords that
 * describe the grid (XPIXSZ/YPIXSZ, binned µm per pixel) are divided by the scale factor, since the
 * output pixels are that much smaller; the sensor's own PIXSIZE1/2 and the binning stay as they were.
 */
import type { Localization } from '../optics/emitter.ts';
import type { Image } from '../optics/image.ts';
import { encodeFits, encodeFitsBinTable, type FitsCard } from './fits.ts';

export interface ResultForFits {
  seq: number;
  /** capture time, ms since epoch */
  timestamp: number;
  model: { id: string };
  /** output pixels per input pixel along each axis */
  scale: number;
  output: Image;
  localizations: Localization[];
}

const GRID_PIXEL_SIZE = new Set(['XPIXSZ', 'YPIXSZ']);
const OURS = new Set(['ORIGIN', 'DATE', 'RLMODEL', 'RLSCALE', 'RLSEQ', 'RLTIME']);

export function encodeResultFits(r: ResultForFits, inputHeader: FitsCard[] = []): Buffer {
  const carried: FitsCard[] = [];
  for (const c of inputHeader) {
    if (OURS.has(c.key)) continue;
    if (GRID_PIXEL_SIZE.has(c.key) && typeof c.value === 'number') {
      carried.push({ key: c.key, value: c.value / r.scale, comment: `${c.comment ?? 'pixel size'} (output grid)` });
    } else carried.push(c);
  }
  const extra: FitsCard[] = [
    { key: 'ORIGIN', value: 'rayleigh', comment: 'super-resolved on the device' },
    { key: 'DATE', value: new Date().toISOString().slice(0, 23), comment: 'UTC file creation' },
    { key: 'RLMODEL', value: r.model.id, comment: 'model that made this map' },
    { key: 'RLSCALE', value: r.scale, comment: 'output pixels per input pixel per axis' },
    { key: 'RLSEQ', value: r.seq, comment: 'frame sequence number (MQTT result seq)' },
    { key: 'RLTIME', value: new Date(r.timestamp).toISOString().slice(0, 23), comment: 'UTC frame received by rayleigh' },
    ...carried,
    { key: 'HISTORY', comment: `super-resolved by rayleigh model ${r.model.id}, unit-sum map` },
  ];
  const primary = encodeFits(r.output, -32, { extra, extend: true });
  const locs = r.localizations;
  const table = encodeFitsBinTable(
    [
      { name: 'X', unit: 'pixel', format: 'E', values: locs.map((l) => l.x) },
      { name: 'Y', unit: 'pixel', format: 'E', values: locs.map((l) => l.y) },
      { name: 'PHOTONS', format: 'E', values: locs.map((l) => l.photons) },
      { name: 'PEAK', format: 'E', values: locs.map((l) => l.peak) },
    ],
    {
      extname: 'LOCALIZATIONS',
      extra: [{ key: 'COMMENT', comment: 'X, Y in input-frame pixels, as in the MQTT result meta' }],
    },
  );
  return Buffer.concat([primary, table]);
}
