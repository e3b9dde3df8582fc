/** A point emitter. Positions are in camera pixels, pixel centres at integer + 0.5. */
export interface Emitter {
  x: number;
  y: number;
  /** expected photons collected from this emitter */
  photons: number;
}

/** A localisation found in a reconstruction, in camera pixels (same convention as Emitter). */
export interface Localization {
  x: number;
  y: number;
  /** estimated photons (or relative intensity when photons are unknown) */
  photons: number;
  /** peak value on the output grid */
  peak: number;
}
