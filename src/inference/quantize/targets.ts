/**
 * Which CPU an INT8 model is quantized for, and what that means for its weights.
 *
 * onnxruntime's QLinearConv multiplies uint8 activations by int8 weights. Where the CPU has no
 * u8·s8 dot-product instruction (x86 with AVX2 only: VPMADDUBSW), pairs of products are summed into
 * a saturating int16, and 255·127·2 overflows it; weights limited to 7 bits ([-63, 63]) cannot
 * overflow. AVX-512 VNNI / AVX-VNNI (VPDPBUSD) and the Armv8.2 dot-product instructions (UDOT/SDOT)
 * accumulate straight into int32, so full 8-bit weights ([-127, 127]) are exact there and halve the
 * weight rounding error. An Arm core without dot-product (Cortex-A72, Raspberry Pi 4) widens to
 * 16 bits before adding, but we keep it at 7 bits too: it is the conservative choice for a path we
 * cannot measure here.
 */

/** 'generic' (the default) is safe on every CPU: 7-bit weights */
export const QUANT_TARGETS = ['generic', 'x86-avx2', 'x86-vnni', 'arm64', 'arm64-dotprod'] as const;
export type QuantTarget = (typeof QUANT_TARGETS)[number];

export interface TargetSpec {
  /** largest weight magnitude: 63 (7-bit) or 127 (8-bit) */
  weightQmax: number;
  weightBits: 7 | 8;
  /** the instruction that makes 8-bit weights safe, or why 7 bits */
  why: string;
}

export const TARGETS: Record<QuantTarget, TargetSpec> = {
  generic: { weightQmax: 63, weightBits: 7, why: 'any CPU: 7-bit weights cannot saturate a 16-bit pair sum' },
  'x86-avx2': { weightQmax: 63, weightBits: 7, why: 'no VNNI: VPMADDUBSW sums u8·s8 pairs into saturating int16' },
  'x86-vnni': { weightQmax: 127, weightBits: 8, why: 'AVX-512 VNNI / AVX-VNNI VPDPBUSD accumulates into int32' },
  arm64: { weightQmax: 63, weightBits: 7, why: 'no dot-product extension (e.g. Cortex-A72); 7-bit kept as the safe choice' },
  'arm64-dotprod': { weightQmax: 127, weightBits: 8, why: 'Armv8.2 UDOT/SDOT accumulate into int32' },
};

export function isQuantTarget(s: string): s is QuantTarget {
  return (QUANT_TARGETS as readonly string[]).includes(s);
}

/**
 * The target for the CPU described by /proc/cpuinfo text. x86 lists its features on "flags" lines
 * (avx512_vnni, avx_vnni), arm64 on "Features" lines (asimddp = dot product). Throws when the text
 * names neither, so `--target auto` never guesses.
 */
export function targetFromCpuinfo(cpuinfo: string): QuantTarget {
  const features = new Set<string>();
  let sawX86 = false;
  let sawArm = false;
  for (const line of cpuinfo.split('\n')) {
    const m = /^(flags|Features)\s*:\s*(.*)$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === 'flags') sawX86 = true;
    else sawArm = true;
    for (const f of m[2].split(/\s+/)) if (f) features.add(f);
  }
  if (sawX86) return features.has('avx512_vnni') || features.has('avx_vnni') ? 'x86-vnni' : 'x86-avx2';
  if (sawArm) return features.has('asimddp') ? 'arm64-dotprod' : 'arm64';
  throw new Error('cannot tell the CPU features: /proc/cpuinfo has neither "flags" nor "Features" lines');
}
