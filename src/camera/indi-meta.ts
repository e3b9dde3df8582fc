/**
 * FITS header → FrameMeta. Keywords are the ones INDI's CCD base class writes (INDI library
 * libs/indibase/indiccd.cpp addFITSKeywords: EXPTIME, CCD-TEMP, PIXSIZE1/2, XBINNING/YBINNING,
 * XPIXSZ/YPIXSZ, GAIN, OFFSET, DATE-OBS, INSTRUME, TELESCOP, OBJECT, FILTER, FRAME/IMAGETYP,
 * ROWORDER) and the common names other writers use for the same values.
 */
import { type FitsHeader, type FitsValue, isFitsStructural } from '../io/fits.ts';
import type { FrameMeta } from './types.ts';

function num(v: FitsValue | undefined): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function str(v: FitsValue | undefined): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

export function frameMetaFromFits(h: FitsHeader): FrameMeta {
  const v = h.values;
  const first = (...keys: string[]): FitsValue | undefined => {
    for (const k of keys) if (v.has(k)) return v.get(k);
    return undefined;
  };
  const meta: FrameMeta = {};
  const set = <K extends keyof FrameMeta>(k: K, x: FrameMeta[K] | undefined): void => {
    if (x !== undefined) meta[k] = x;
  };
  set('device', str(v.get('INSTRUME')));
  set('exposure', num(first('EXPTIME', 'EXPOSURE')));
  set('gain', num(v.get('GAIN')));
  set('offset', num(v.get('OFFSET')));
  const bx = num(v.get('XBINNING'));
  const by = num(v.get('YBINNING'));
  if (bx !== undefined || by !== undefined) set('binning', { x: bx ?? by ?? 1, y: by ?? bx ?? 1 });
  const px = num(v.get('XPIXSZ')) ?? mul(num(v.get('PIXSIZE1')), bx);
  const py = num(v.get('YPIXSZ')) ?? mul(num(v.get('PIXSIZE2')), by) ?? px;
  if (px !== undefined) set('pixelSize', { x: px, y: py ?? px });
  set('ccdTemperature', num(first('CCD-TEMP', 'CCD_TEMP')));
  set('dateObs', str(v.get('DATE-OBS')));
  set('telescope', str(v.get('TELESCOP')));
  set('object', str(v.get('OBJECT')));
  set('filter', str(v.get('FILTER')));
  set('frameType', str(first('IMAGETYP', 'FRAME')));
  set('rowOrder', str(v.get('ROWORDER')));
  meta.header = h.cards.filter((c) => !isFitsStructural(c.key));
  return meta;
}

function mul(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? undefined : a * (b ?? 1);
}
