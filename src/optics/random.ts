/**
 * Seeded pseudo-random numbers for the simulator. Reproducibility matters more than speed of
 * seeding: the same seed must give the same training/test set on every board and in CI, so we
 * never touch Math.random here.
 */

/** xoshiro128** (32-bit state words): fast, good statistical quality, trivially seedable. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spareNormal: number | null = null;

  constructor(seed: number = 1) {
    // splitmix32 spreads a small integer seed over the whole state (an all-zero state would stick).
    let x = (Math.floor(seed) ^ 0x9e3779b9) >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** uniform 32-bit unsigned integer */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    this.s0 >>>= 0;
    this.s1 >>>= 0;
    this.s2 >>>= 0;
    return result;
  }

  /** uniform in [0, 1) with 53 random bits */
  uniform(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** uniform in (0, 1): safe to take the log of */
  uniformPositive(): number {
    let u = this.uniform();
    while (u === 0) u = this.uniform();
    return u;
  }

  /** uniform in [a, b) */
  range(a: number, b: number): number {
    return a + (b - a) * this.uniform();
  }

  /** log-uniform in [a, b] (both > 0); a === b returns a */
  logUniform(a: number, b: number): number {
    if (a === b) return a;
    return Math.exp(Math.log(a) + (Math.log(b) - Math.log(a)) * this.uniform());
  }

  /** integer uniform in [0, n) */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** standard normal (Box–Muller, polar form), mean 0 variance 1 */
  normal(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    let u: number;
    let v: number;
    let s: number;
    do {
      u = 2 * this.uniform() - 1;
      v = 2 * this.uniform() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const f = Math.sqrt((-2 * Math.log(s)) / s);
    this.spareNormal = v * f;
    return u * f;
  }

  /**
   * Gamma(shape k, scale 1), k > 0: Marsaglia & Tsang (2000), "A simple method for generating
   * gamma variables", ACM TOMS 26(3); k < 1 by the boost Gamma(k) = Gamma(k+1)·U^(1/k).
   */
  gamma(shape: number): number {
    if (!(shape > 0) || !Number.isFinite(shape)) throw new Error(`gamma: invalid shape ${shape}`);
    if (shape < 1) return this.gamma(shape + 1) * this.uniformPositive() ** (1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.uniformPositive();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  /**
   * Poisson-distributed integer with mean λ. Exact for every λ: Knuth's product-of-uniforms for
   * small λ, Hörmann's PTRS transformed rejection for λ ≥ 10 (no normal approximation, so shot
   * noise has the right variance and skew at the low photon counts the networks are trained on).
   */
  poisson(lambda: number): number {
    if (!(lambda > 0)) return 0;
    if (lambda < 10) return this.poissonKnuth(lambda);
    return this.poissonPtrs(lambda);
  }

  private poissonKnuth(lambda: number): number {
    const limit = Math.exp(-lambda);
    let k = 0;
    let p = this.uniform();
    while (p > limit) {
      k++;
      p *= this.uniform();
    }
    return k;
  }

  private poissonPtrs(lambda: number): number {
    const slam = Math.sqrt(lambda);
    const loglam = Math.log(lambda);
    const b = 0.931 + 2.53 * slam;
    const a = -0.059 + 0.02483 * b;
    const invalpha = 1.1239 + 1.1328 / (b - 3.4);
    const vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
      const u = this.uniform() - 0.5;
      const v = this.uniformPositive();
      const us = 0.5 - Math.abs(u);
      const k = Math.floor(((2 * a) / us + b) * u + lambda + 0.43);
      if (us >= 0.07 && v <= vr) return k;
      if (k < 0 || (us < 0.013 && v > us)) continue;
      const lhs = Math.log(v) + Math.log(invalpha) - Math.log(a / (us * us) + b);
      const rhs = -lambda + k * loglam - logFactorial(k);
      if (lhs <= rhs) return k;
    }
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

const LOG_FACT_TABLE_SIZE = 256;
const logFactTable: Float64Array = (() => {
  const t = new Float64Array(LOG_FACT_TABLE_SIZE);
  for (let i = 2; i < LOG_FACT_TABLE_SIZE; i++) t[i] = t[i - 1] + Math.log(i);
  return t;
})();

/** ln(k!) — exact table below 256, Stirling series (error < 1e-14) above. */
export function logFactorial(k: number): number {
  if (k < LOG_FACT_TABLE_SIZE) return logFactTable[k];
  const k2 = k * k;
  return k * Math.log(k) - k + 0.5 * Math.log(2 * Math.PI * k) + 1 / (12 * k) - 1 / (360 * k * k2) + 1 / (1260 * k2 * k2 * k);
}
