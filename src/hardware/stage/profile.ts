/**
 * Trapezoidal velocity profile for a move of `distance` steps (≥ 0): constant acceleration up to
 * vmax, cruise, constant deceleration. When the move is too short to reach vmax it is triangular.
 */
export interface Trapezoid {
  distance: number;
  /** seconds */
  duration: number;
  peakSpeed: number;
  /** steps travelled after t seconds, clamped to [0, distance] */
  positionAt(t: number): number;
}

export function trapezoid(distance: number, vmax: number, accel: number): Trapezoid {
  if (!(distance >= 0) || !(vmax > 0) || !(accel > 0)) {
    throw new RangeError(`invalid profile: distance ${distance}, vmax ${vmax}, accel ${accel}`);
  }
  let tAcc = vmax / accel;
  let dAcc = 0.5 * accel * tAcc * tAcc;
  let peak = vmax;
  if (2 * dAcc > distance) {
    tAcc = Math.sqrt(distance / accel);
    dAcc = distance / 2;
    peak = accel * tAcc;
  }
  const tCruise = peak > 0 ? (distance - 2 * dAcc) / peak : 0;
  const duration = 2 * tAcc + tCruise;
  return {
    distance,
    duration,
    peakSpeed: peak,
    positionAt(t: number): number {
      if (t <= 0) return 0;
      if (t >= duration) return distance;
      if (t < tAcc) return 0.5 * accel * t * t;
      if (t < tAcc + tCruise) return dAcc + peak * (t - tAcc);
      const td = duration - t;
      return distance - 0.5 * accel * td * td;
    },
  };
}
