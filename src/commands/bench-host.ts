import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import type { ProcessInfo } from './bench-process.ts';

/** CPU instruction-set flags that decide how fast INT8 and FP32 kernels run. */
const RELEVANT_FLAGS = /^(sse4_2|avx|avx2|fma|f16c|avx512\w*|avx_vnni|amx\w*|asimd|asimddp|asimdhp|i8mm|sve\w*|bf16|dotprod)$/;

export interface HostInfo {
  cpuModel: string;
  cpus: number;
  flags: string[];
  node: string;
  arch: string;
}

/** The machine a figure was measured on: compare only ratios from one run, and only on one host. */
export function hostInfo(): HostInfo {
  let flags: string[] = [];
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    const line = text.split('\n').find((l) => /^(flags|Features)\s*:/.test(l)) ?? '';
    flags = line
      .replace(/^[^:]*:\s*/, '')
      .split(/\s+/)
      .filter((f) => RELEVANT_FLAGS.test(f))
      .sort();
  } catch {
    // not Linux: no flags to report
  }
  const c = cpus();
  return { cpuModel: c[0]?.model ?? 'unknown', cpus: c.length, flags, node: process.version, arch: process.arch };
}

/** What one bench run of one engine measured (bench.ts runs it, bench-pipeline.ts compares against it). */
export interface EngineBench {
  engine: string;
  /** tile.window the engine ran with (0 = untiled) */
  window: number;
  /** how frames were cut: row bands through the levels, overlap windows, or not at all */
  tiling: 'bands' | 'windows' | 'untiled';
  provider: string;
  width: number;
  height: number;
  frames: number;
  /** windows or bands per frame, and network work per frame pixel (MAC-weighted for bands) */
  tiles: number;
  overhead: number;
  /** the whole frame path: normalise, tile, network, stitch, localise (with the configured fit) */
  megapixelsPerSecond: number;
  /** frame pixels over the time inside the network runs alone */
  networkMegapixelsPerSecond: number;
  framesPerSecond: number;
  latencyMs: { p50: number; p99: number; mean: number };
  peakRssMB: number;
  /** how the measured process ran: built or sources, allocator settings */
  process: ProcessInfo;
}
