import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.ts';
import { quantizeModelFile } from '../../../src/inference/quantize/index.ts';
import { TARGETS, targetFromCpuinfo } from '../../../src/inference/quantize/targets.ts';
import { decodeModel, tensorValues } from '../../../src/onnx/model.ts';
import { writeCalibrationSet } from './helpers.ts';

// /proc/cpuinfo excerpts in the kernel's format: x86 lists "flags", arm64 lists "Features"
const EPYC_VNNI =
  'processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16\n';
const HASWELL = 'processor\t: 0\nmodel name\t: Intel(R) Xeon(R) CPU E5-2680 v3\nflags\t\t: fpu sse2 avx avx2 fma\n';
const ALDER_LAKE = 'processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma avx_vnni\n';
// Raspberry Pi 5 (Cortex-A76, Armv8.2: asimddp) and Pi 4 (Cortex-A72, Armv8.0)
const PI5 =
  'processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU part\t: 0xd0b\n';
const PI4 = 'processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU part\t: 0xd08\n';

const fixtures = new URL('../../fixtures/', import.meta.url).pathname;
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rayleigh-target-'));
  writeCalibrationSet(join(dir, 'cal'), 6);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('quantization target from /proc/cpuinfo', () => {
  it('picks 8-bit weights only where the CPU has VNNI or the Arm dot product', () => {
    expect(targetFromCpuinfo(EPYC_VNNI)).toBe('x86-vnni');
    expect(targetFromCpuinfo(ALDER_LAKE)).toBe('x86-vnni');
    expect(targetFromCpuinfo(HASWELL)).toBe('x86-avx2');
    expect(targetFromCpuinfo(PI5)).toBe('arm64-dotprod');
    expect(targetFromCpuinfo(PI4)).toBe('arm64');
    expect(TARGETS['x86-vnni'].weightQmax).toBe(127);
    expect(TARGETS['arm64-dotprod'].weightQmax).toBe(127);
    expect(TARGETS['x86-avx2'].weightQmax).toBe(63);
    expect(TARGETS.arm64.weightQmax).toBe(63);
    expect(TARGETS.generic.weightQmax).toBe(63);
  });

  it('refuses to guess from text without feature lines', () => {
    expect(() => targetFromCpuinfo('processor\t: 0\n')).toThrow(/neither/);
  });
});

describe('quantize --target', () => {
  const weights = (file: string) =>
    (decodeModel(readFileSync(file)).graph?.initializer ?? []).filter((t) => t.name?.endsWith('.w_q')).map((t) => tensorValues(t));
  const meta = (file: string) =>
    JSON.parse(decodeModel(readFileSync(file)).metadata_props?.find((p) => p.key === 'rayleigh.quantization')?.value ?? '{}');

  it('writes full 8-bit weights for a VNNI target and 7-bit ones by default, and records the target', async () => {
    const model = join(fixtures, 'tiny-fp32.onnx');
    const cal = join(dir, 'cal');
    const vnni = join(dir, 'vnni.onnx');
    const plain = join(dir, 'generic.onnx');
    const auto = join(dir, 'auto.onnx');
    const r = await quantizeModelFile({ model, calibration: cal, out: vnni, threads: 1, target: 'x86-vnni' });
    expect(r).toMatchObject({ target: 'x86-vnni', weightBits: 8 });
    await quantizeModelFile({ model, calibration: cal, out: plain, threads: 1 });
    await quantizeModelFile({ model, calibration: cal, out: auto, threads: 1, target: 'auto', cpuinfo: PI4 });
    for (const w of weights(vnni)) expect(Math.max(...w.map(Math.abs))).toBe(127);
    for (const file of [plain, auto]) for (const w of weights(file)) expect(Math.max(...w.map(Math.abs))).toBe(63);
    expect(meta(vnni)).toMatchObject({ target: 'x86-vnni', weightBits: 8 });
    expect(meta(plain)).toMatchObject({ target: 'generic', weightBits: 7 });
    expect(meta(auto)).toMatchObject({ target: 'arm64', weightBits: 7 });
  });

  it('rejects an unknown target and an unreadable cpuinfo with a clear error', async () => {
    const o = { model: join(fixtures, 'tiny-fp32.onnx'), calibration: join(dir, 'cal'), out: join(dir, 'x.onnx'), threads: 1 };
    await expect(quantizeModelFile({ ...o, target: 'riscv' as never })).rejects.toThrow(UserError);
    await expect(quantizeModelFile({ ...o, target: 'riscv' as never })).rejects.toThrow(/--target/);
    await expect(quantizeModelFile({ ...o, target: 'auto', cpuinfo: 'nothing here' })).rejects.toThrow(/--target auto/);
  });
});
