/**
 * A super-resolved result as one FITS file for astronomers: the primary HDU is the output map
 * (float32, on the model's finer grid) with the input frame's header keywords carried over, the
 * first extension a binary table `LOCALIZATIONS` (one row per emitter). Pixel-size keywords that
 * describe the grid (XPIXSZ/YPIXSZ, binned µm per pixel) are divided by the scale factor, since the
 * output pixels are that much smaller; the sensor's own PIXSIZE1/2 and the binning stay as they were.
 * Localisations refined by the frame fit carry its Cramér–Rao σ, background and PSF width as
 * further columns (NaN where that localisation's fit failed), as in the MQTT result meta.
 */
import { type LocalizationColumns, listToColumns } from '../inference/peaks.ts';
import type { Localization } from '../optics/emitter.ts';
import type { Image } from '../optics/image.ts';
import { encodeFits, encodeFitsBinTable, type FitsCard, type FitsTableColumn } from './fits.ts';

export interface ResultForFits {
  seq: number;
  /** capture time, ms since epoch */
  timestamp: number;
  model: { id: string };
  /** output pixels per input pixel along each axis */
  scale: number;
  output: Image;
  localizations: Localization[] | LocalizationColumns;
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
  const locs = Array.isArray(r.localizations) ? listToColumns(r.localizations) : r.localizations;
  const n = locs.count;
  const columns: FitsTableColumn[] = [
    { name: 'X', unit: 'pixel', format: 'E', values: locs.x.subarray(0, n) },
    { name: 'Y', unit: 'pixel', format: 'E', values: locs.y.subarray(0, n) },
    { name: 'PHOTONS', format: 'E', values: locs.photons.subarray(0, n) },
    { name: 'PEAK', format: 'E', values: locs.peak.subarray(0, n) },
  ];
  const f = locs.fit;
  if (f)
    columns.push(
      { name: 'SIGMA_X', unit: 'pixel', format: 'E', values: f.sigmaX.subarray(0, n) },
      { name: 'SIGMA_Y', unit: 'pixel', format: 'E', values: f.sigmaY.subarray(0, n) },
      { name: 'SIGMA_PHOTONS', format: 'E', values: f.sigmaPhotons.subarray(0, n) },
      { name: 'BACKGROUND', format: 'E', values: f.background.subarray(0, n) },
      { name: 'PSF_WIDTH', unit: 'pixel', format: 'E', values: f.width.subarray(0, n) },
    );
  const table = encodeFitsBinTable(columns, {
    extname: 'LOCALIZATIONS',
    extra: [
      { key: 'COMMENT', comment: 'X, Y in input-frame pixels, as in the MQTT result meta' },
      ...(f ? [{ key: 'COMMENT', comment: 'SIGMA_*: Cramer-Rao bounds of the frame fit; NaN where that fit failed' }] : []),
    ],
  });
  return Buffer.concat([primary, table]);
}
