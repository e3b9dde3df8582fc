import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.ts';
import { normaliseInput } from '../../../src/inference/normalise.ts';
import { quantizeModelFile, summariseOptimizedGraph } from '../../../src/inference/quantize/index.ts';
import { DataType, decodeModel, encodeModel, tensorValues } from '../../../src/onnx/model.ts';
import { buildTinySoftHead } from '../../fixtures/tiny-model.ts';
import { relativeL2, spotFrame, writeCalibrationSet } from './helpers.ts';

const fixtures = new URL('../../fixtures/', import.meta.url).pathname;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rayleigh-quant-'));
  writeCalibrationSet(join(dir, 'cal'), 12);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function runOutput(model: string, frame: ReturnType<typeof spotFrame>): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
  const x = normaliseInput(frame);
  const r = await s.run({ input: new ort.Tensor('float32', x.data, [1, 1, x.height, x.width]) });
  await s.release();
  return r.output.data as Float32Array;
}

describe.each([
  ['tiny', 3],
  ['tiny-unet', 5],
])('quantize %s', (name, convCount) => {
  const fp32 = () => join(fixtures, `${name}-fp32.onnx`);
  const int8 = () => join(dir, `${name}-int8.onnx`);

  it('writes a QDQ model with 7-bit per-channel weights and int32 biases', async () => {
    const r = await quantizeModelFile({ model: fp32(), calibration: join(dir, 'cal'), out: int8(), threads: 1 });
    expect(r.convs).toBe(convCount);
    expect(r.frames).toBe(12);
    expect(r.excludedConvs).toBe(0);
    const m = decodeModel(readFileSync(int8()));
    const meta = JSON.parse(m.metadata_props?.find((p) => p.key === 'rayleigh.quantization')?.value ?? '{}');
    expect(meta).toMatchObject({ method: 'percentile', percentile: 99.99, headroom: 1.1, calibrationFrames: 12 });
    const g = m.graph ?? {};
    const ops = (g.node ?? []).map((n) => n.op_type);
    expect(ops.filter((o) => o === 'Conv')).toHaveLength(convCount);
    expect(ops).toContain('QuantizeLinear');
    const weights = (g.initializer ?? []).filter((t) => t.name?.endsWith('.w_q'));
    expect(weights).toHaveLength(convCount);
    for (const w of weights) {
      expect(w.data_type).toBe(DataType.INT8);
      const v = tensorValues(w);
      expect(Math.min(...v)).toBeGreaterThanOrEqual(-64);
      expect(Math.max(...v)).toBeLessThanOrEqual(63);
      expect(Math.max(...v.map(Math.abs))).toBe(63);
    }
    const biases = (g.initializer ?? []).filter((t) => t.name?.endsWith('.b_q'));
    expect(biases.every((b) => b.data_type === DataType.INT32)).toBe(true);
    expect((g.initializer ?? []).some((t) => t.data_type === DataType.FLOAT && (t.dims ?? []).length === 4)).toBe(false);
  });

  it('onnxruntime fuses every Conv into QLinearConv', async () => {
    const s = await summariseOptimizedGraph(int8());
    expect(s.qlinearConvs).toBe(convCount);
    expect(s.floatConvs).toBe(0);
    // and the check is not vacuous: the FP32 model keeps float convs
    const f = await summariseOptimizedGraph(fp32());
    expect(f.qlinearConvs).toBe(0);
    expect(f.floatConvs).toBeGreaterThan(0);
  });

  it('INT8 output stays close to FP32 on a frame outside the calibration set', async () => {
    const frame = spotFrame(64, 48, 424242, 25);
    const [a, b] = await Promise.all([runOutput(fp32(), frame), runOutput(int8(), frame)]);
    expect(b.length).toBe(a.length);
    expect(Math.min(...b)).toBeGreaterThanOrEqual(0);
    expect(relativeL2(a, b)).toBeLessThan(0.1);
  });
});

describe('quantize methods and errors', () => {
  it('entropy and minmax methods also produce fused models', async () => {
    const frame = spotFrame(40, 40, 99);
    const fp32 = await runOutput(join(fixtures, 'tiny-fp32.onnx'), frame);
    const err: Record<string, number> = {};
    for (const method of ['entropy', 'minmax'] as const) {
      const out = join(dir, `tiny-${method}.onnx`);
      await quantizeModelFile({ model: join(fixtures, 'tiny-fp32.onnx'), calibration: join(dir, 'cal'), out, method, threads: 1 });
      expect((await summariseOptimizedGraph(out)).qlinearConvs).toBe(3);
      err[method] = relativeL2(fp32, await runOutput(out, frame));
    }
    expect(err.minmax).toBeLessThan(0.15);
    // KL clipping trades the rare bright spots for resolution of the background: usable, but worse here
    expect(err.entropy).toBeLessThan(0.6);
  });

  it('rejects a calibration directory without frames and a file that is not ONNX', async () => {
    const empty = mkdtempSync(join(dir, 'empty-'));
    await expect(
      quantizeModelFile({ model: join(fixtures, 'tiny-fp32.onnx'), calibration: empty, out: join(dir, 'x.onnx') }),
    ).rejects.toThrow(UserError);
    await expect(
      quantizeModelFile({ model: join(dir, 'cal', 'frame-000.npy'), calibration: join(dir, 'cal'), out: join(dir, 'x.onnx') }),
    ).rejects.toThrow(/--model/);
  });
});

describe('quantize --exclude', () => {
  it('keeps an excluded Conv and the data-movement ops after it in float', async () => {
    const out = join(dir, 'tiny-head-float.onnx');
    const r = await quantizeModelFile({
      model: join(fixtures, 'tiny-fp32.onnx'),
      calibration: join(dir, 'cal'),
      out,
      exclude: ['Conv_5'],
      threads: 1,
    });
    expect(r.convs).toBe(2);
    expect(r.excludedConvs).toBe(1);
    const s = await summariseOptimizedGraph(out);
    expect(s.qlinearConvs).toBe(2);
    expect(s.floatConvs).toBe(1);
    const frame = spotFrame(40, 40, 5);
    const a = await runOutput(join(fixtures, 'tiny-fp32.onnx'), frame);
    const b = await runOutput(out, frame);
    // the final ReLU must survive: the float head can go negative
    expect(Math.min(...b)).toBeGreaterThanOrEqual(0);
    expect(relativeL2(a, b)).toBeLessThan(0.1);
  });
});

describe('quantize --exclude on the first layer', () => {
  it('runs the excluded first Conv in float and still fuses the layers after it', async () => {
    const out = join(dir, 'tiny-first-float.onnx');
    const r = await quantizeModelFile({
      model: join(fixtures, 'tiny-fp32.onnx'),
      calibration: join(dir, 'cal'),
      out,
      exclude: ['Conv_0'],
      threads: 1,
    });
    expect(r.convs).toBe(2);
    expect(r.excludedConvs).toBe(1);
    const s = await summariseOptimizedGraph(out);
    expect(s.qlinearConvs).toBe(2);
    expect(s.floatConvs).toBe(1);
    await expect(
      quantizeModelFile({ model: join(fixtures, 'tiny-fp32.onnx'), calibration: join(dir, 'cal'), out, exclude: ['NoSuchNode'] }),
    ).rejects.toThrow(/no node named "NoSuchNode"/);
  });
});

describe('quantize a Softplus × Softmax head', () => {
  it('floors a range read only by Softplus and leaves the DepthToSpace output in float', async () => {
    const fp32 = join(dir, 'soft-head-fp32.onnx');
    const out = join(dir, 'soft-head-int8.onnx');
    writeFileSync(fp32, encodeModel(buildTinySoftHead()));
    // the two heads unstacked, so the mass Conv's own output is what Softplus reads
    await quantizeModelFile({ model: fp32, calibration: join(dir, 'cal'), out, threads: 1, mergeSiblings: false });
    const m = decodeModel(readFileSync(out));
    const nodes = m.graph?.node ?? [];
    const inits = new Map((m.graph?.initializer ?? []).map((t) => [t.name ?? '', t]));
    const softplusIn = nodes.find((n) => n.op_type === 'Softplus')?.input?.[0] ?? '';
    const dq = nodes.find((n) => n.op_type === 'DequantizeLinear' && n.output?.[0] === softplusIn);
    expect(dq).toBeDefined();
    const scale = tensorValues(inits.get(dq?.input?.[1] ?? '') ?? {})[0];
    const zp = tensorValues(inits.get(dq?.input?.[2] ?? '') ?? {})[0];
    // lowest representable mass logit: just below -16, not the background's ≈ -60
    expect(-zp * scale).toBeGreaterThan(-16.5);
    expect(-zp * scale).toBeLessThan(-15);
    // nothing rounds the model's output
    expect(nodes.some((n) => n.op_type === 'DequantizeLinear' && n.output?.[0] === 'output')).toBe(false);
    expect(nodes.find((n) => n.op_type === 'DepthToSpace')?.output).toEqual(['output']);
    const s = await summariseOptimizedGraph(out);
    expect(s.qlinearConvs).toBe(3);
    const frame = spotFrame(40, 40, 9);
    expect(relativeL2(await runOutput(fp32, frame), await runOutput(out, frame))).toBeLessThan(0.1);
  });
});

describe('the shipped INT8 model', () => {
  it('runs as QLinearConv every Conv except the ones its metadata says were kept in float', async () => {
    const file = new URL('../../../models-int8/damn-int8.onnx', import.meta.url).pathname;
    const m = decodeModel(readFileSync(file));
    const meta = JSON.parse(m.metadata_props?.find((p) => p.key === 'rayleigh.quantization')?.value ?? '{}') as { floatNodes?: string[] };
    const floatNodes = meta.floatNodes ?? [];
    const convs = (m.graph?.node ?? []).filter((n) => n.op_type === 'Conv');
    expect(convs.length).toBeGreaterThan(10);
    // every recorded float node exists and is a Conv
    for (const name of floatNodes) expect(convs.some((c) => c.name === name)).toBe(true);
    const s = await summariseOptimizedGraph(file);
    expect(s.qlinearConvs).toBe(convs.length - floatNodes.length);
    expect(s.floatConvs).toBe(floatNodes.length);
  });
});
