import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normaliseInput, padToMultiple } from '../../../src/inference/normalise.ts';
import { quantizeModelFile, stretchGain, summariseOptimizedGraph } from '../../../src/inference/quantize/index.ts';
import { dropSoftmaxDegree, insertLayoutAnchors, mergeSiblingConvs, siblingConvGroups } from '../../../src/inference/quantize/rewrite.ts';
import { decodeNpy } from '../../../src/io/npy.ts';
import { decodeModel, encodeModel, type OnnxModel, tensorValues } from '../../../src/onnx/model.ts';
import type { Image } from '../../../src/optics/image.ts';
import { buildTinySoftHead } from '../../fixtures/tiny-model.ts';
import { relativeL2, spotFrame, writeCalibrationSet } from './helpers.ts';

const shippedFp32 = new URL('../../../models-int8/damn-fp32.onnx', import.meta.url).pathname;
let dir: string;

const simulated = new URL('../../../calibration/damn-sim/', import.meta.url).pathname;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rayleigh-rewrite-'));
  writeCalibrationSet(join(dir, 'cal'), 10);
  // a slice of the shipped calibration set, for quantizing the shipped model quickly
  mkdirSync(join(dir, 'sim'));
  for (let i = 0; i < 12; i++) {
    const name = `frame_${String(i).padStart(4, '0')}.npy`;
    copyFileSync(join(simulated, name), join(dir, 'sim', name));
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(model: OnnxModel | string, width: number, height: number, seed: number, frame?: Image): Promise<Float32Array> {
  const bytes = typeof model === 'string' ? readFileSync(model) : encodeModel(model);
  const s = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3, intraOpNumThreads: 1 });
  const x = padToMultiple(normaliseInput(frame ?? spotFrame(width, height, seed)), 8);
  const r = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x.data, [1, 1, x.height, x.width]) });
  await s.release();
  return r[s.outputNames[0]].data as Float32Array;
}

function maxRelativeDifference(a: Float32Array, b: Float32Array): number {
  let peak = 0;
  for (const v of a) peak = Math.max(peak, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst / peak;
}

describe('stacking sibling Convs', () => {
  it('finds the mass and sub-pixel heads of the shipped FP32 model and nothing else', () => {
    const m = decodeModel(readFileSync(shippedFp32));
    const groups = siblingConvGroups(m);
    expect(groups.map((g) => g.map((n) => n.name))).toEqual([['/mass/Conv', '/subpixel/Conv']]);
    // kept-in-float and quantized Convs never share a stack
    expect(siblingConvGroups(m, new Set(['/mass/Conv']))).toEqual([]);
  });

  it('leaves the shipped FP32 model’s output unchanged up to float rounding, with and without gains', async () => {
    const m = decodeModel(readFileSync(shippedFp32));
    const groups = siblingConvGroups(m);
    const plain = mergeSiblingConvs(m, groups).model;
    const gained = mergeSiblingConvs(m, groups, (n) => (n.name === '/mass/Conv' ? 49.7 : 1));
    expect(gained.merged[0].gains).toEqual([49.7, 1]);
    const convs = (g: OnnxModel) => (g.graph?.node ?? []).filter((n) => n.op_type === 'Conv').length;
    expect(convs(plain)).toBe(convs(m) - 1);
    for (const [w, h, seed] of [
      [64, 64, 1],
      [96, 40, 2],
    ]) {
      const ref = await run(m, w, h, seed);
      for (const variant of [plain, gained.model]) {
        const out = await run(variant, w, h, seed);
        expect(out.length).toBe(ref.length);
        expect(maxRelativeDifference(ref, out)).toBeLessThan(1e-4);
      }
    }
    // and the comparison can fail: a wrong gain (no undo) changes the output
    const broken = structuredClone(gained.model);
    const undo = broken.graph?.node?.find((n) => n.op_type === 'Mul' && n.name?.includes('Ungain'));
    expect(undo).toBeDefined();
    if (undo) undo.op_type = 'Add';
    expect(maxRelativeDifference(await run(m, 64, 64, 1), await run(broken, 64, 64, 1))).toBeGreaterThan(1e-2);
  });

  it('stretchGain fits a narrow range into the hull on both sides', () => {
    expect(stretchGain({ lo: -16, hi: 4 }, { lo: -800, hi: 400 })).toBe(50);
    expect(stretchGain({ lo: -8, hi: 8 }, { lo: -800, hi: 400 })).toBe(50);
    expect(stretchGain({ lo: 0, hi: 2 }, { lo: -1, hi: 10 })).toBe(5);
    // the widest part itself and an all-zero part keep gain 1
    expect(stretchGain({ lo: -800, hi: 400 }, { lo: -800, hi: 400 })).toBe(1);
    expect(stretchGain({ lo: 0, hi: 0 }, { lo: -1, hi: 1 })).toBe(1);
  });
});

describe('quantize with stacked heads', () => {
  it('quantizes the shipped heads as one QLinearConv whose range holds the stretched mass logits', async () => {
    const out = join(dir, 'damn-stacked.onnx');
    const r = await quantizeModelFile({ model: shippedFp32, calibration: join(dir, 'sim'), out, threads: 1, method: 'mse' });
    expect(r.mergedConvs.map((m) => m.merged)).toEqual([['/mass/Conv', '/subpixel/Conv']]);
    // the sub-pixel logits span the widest range; the mass logits (floored at -16) are stretched into it
    const [massGain, subGain] = r.mergedConvs[0].gains;
    expect(massGain).toBeGreaterThan(5);
    expect(subGain).toBe(1);
    const m = decodeModel(readFileSync(out));
    const meta = JSON.parse(m.metadata_props?.find((p) => p.key === 'rayleigh.quantization')?.value ?? '{}');
    expect(meta.mergedConvs[0]).toMatchObject({ merged: ['/mass/Conv', '/subpixel/Conv'] });
    const s = await summariseOptimizedGraph(out);
    const convs = (decodeModel(readFileSync(shippedFp32)).graph?.node ?? []).filter((n) => n.op_type === 'Conv').length;
    expect(s.qlinearConvs).toBe(convs - 1);
    expect(s.floatConvs).toBe(0);
    // the stacked output's lowest level reaches the mass floor (-16) times its gain
    const g = m.graph ?? {};
    const inits = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
    const dq = (g.node ?? []).find((n) => n.op_type === 'DequantizeLinear' && n.output?.[0] === r.mergedConvs[0].output);
    expect(dq).toBeDefined();
    const scale = tensorValues(inits.get(dq?.input?.[1] ?? '') ?? {})[0];
    const zp = tensorValues(inits.get(dq?.input?.[2] ?? '') ?? {})[0];
    expect(-zp * scale).toBeLessThanOrEqual(-16 * massGain * 0.99);
    // binned to the camera grid
    const bin = (a: Float32Array, w: number, h: number) => {
      const o = new Float64Array(w * h);
      for (let y = 0; y < 4 * h; y++) for (let x = 0; x < 4 * w; x++) o[Math.floor(y / 4) * w + Math.floor(x / 4)] += a[y * 4 * w + x];
      return o;
    };
    // a simulated frame the calibration did not see
    const img = decodeNpy(readFileSync(join(simulated, 'frame_0063.npy')), 'frame_0063.npy');
    const [w, h] = [Math.ceil(img.width / 8) * 8, Math.ceil(img.height / 8) * 8];
    const separate = join(dir, 'damn-separate.onnx');
    await quantizeModelFile({
      model: shippedFp32,
      calibration: join(dir, 'sim'),
      out: separate,
      threads: 1,
      method: 'mse',
      mergeSiblings: false,
    });
    const a = bin(await run(shippedFp32, 0, 0, 0, img), w, h);
    const stacked = relativeL2(a, bin(await run(out, 0, 0, 0, img), w, h));
    const apart = relativeL2(a, bin(await run(separate, 0, 0, 0, img), w, h));
    // stacking with the gain costs no accuracy against quantizing the two heads apart
    expect(stacked).toBeLessThan(1.1 * apart + 0.01);
    expect(apart).toBeLessThan(0.5);
  });

  it('stacks Convs kept in float into one float Conv and records it among the float nodes', async () => {
    const fp32 = join(dir, 'soft-fp32b.onnx');
    const out = join(dir, 'soft-int8b.onnx');
    writeFileSync(fp32, encodeModel(buildTinySoftHead()));
    const names = (buildTinySoftHead().graph?.node ?? []).filter((n) => n.op_type === 'Conv').map((n) => n.name ?? '');
    const heads = names.slice(1);
    const r = await quantizeModelFile({ model: fp32, calibration: join(dir, 'cal'), out, threads: 1, exclude: heads });
    expect(r.mergedConvs[0].merged).toEqual(heads);
    expect(r.mergedConvs[0].gains).toEqual([1, 1]);
    expect(r.excludedConvs).toBe(1);
    const m = decodeModel(readFileSync(out));
    const meta = JSON.parse(m.metadata_props?.find((p) => p.key === 'rayleigh.quantization')?.value ?? '{}');
    expect(meta.floatNodes).toEqual([r.mergedConvs[0].name]);
    const s = await summariseOptimizedGraph(out);
    expect(s.qlinearConvs).toBe(1);
    expect(s.floatConvs).toBe(1);
  });
});

describe('softmax logits relative to the last channel', () => {
  it('turns the shipped 16-channel sub-pixel head into 15 channels + a zero channel, same output', async () => {
    const m = decodeModel(readFileSync(shippedFp32));
    const r = dropSoftmaxDegree(m);
    expect(r.convs).toEqual(['/subpixel/Conv']);
    const g = r.model.graph ?? {};
    const conv = (g.node ?? []).find((n) => n.name === '/subpixel/Conv');
    const w = (g.initializer ?? []).find((t) => t.name === conv?.input?.[1]);
    expect(w?.dims?.[0]).toBe(15);
    expect((g.node ?? []).some((n) => n.op_type === 'Pad')).toBe(true);
    // with the mass head it now stacks into exactly 16 channels
    const stacked = mergeSiblingConvs(r.model, siblingConvGroups(r.model)).model;
    const sc = (stacked.graph?.node ?? []).find((n) => n.name === '/mass+subpixel/Conv');
    expect((stacked.graph?.initializer ?? []).find((t) => t.name === sc?.input?.[1])?.dims?.[0]).toBe(16);
    for (const [w0, h0, seed] of [
      [64, 64, 3],
      [40, 96, 4],
    ]) {
      const ref = await run(m, w0, h0, seed);
      expect(maxRelativeDifference(ref, await run(r.model, w0, h0, seed))).toBeLessThan(1e-4);
      expect(maxRelativeDifference(ref, await run(stacked, w0, h0, seed))).toBeLessThan(1e-4);
    }
  });

  it('leaves a Conv alone when its output is read by anything but the softmax', () => {
    const m = buildTinySoftHead();
    // the tiny head uses an ONNX Softmax node, not the spelled-out form: nothing to rewrite
    expect(dropSoftmaxDegree(m).convs).toEqual([]);
  });
});

describe('layout anchors', () => {
  it('inserts an exact identity Conv before the first MaxPool when the layer before it is kept in float', async () => {
    const out = join(dir, 'damn-anchored.onnx');
    const exclude = ['/enc0/enc0.0/Conv', '/enc0/enc0.2/Conv', '/mass/Conv', '/subpixel/Conv'];
    await quantizeModelFile({ model: shippedFp32, calibration: join(dir, 'sim'), out, threads: 1, method: 'mse', exclude });
    const plain = join(dir, 'damn-unanchored.onnx');
    await quantizeModelFile({
      model: shippedFp32,
      calibration: join(dir, 'sim'),
      out: plain,
      threads: 1,
      method: 'mse',
      exclude,
      layoutAnchors: false,
    });
    const meta = JSON.parse(decodeModel(readFileSync(out)).metadata_props?.find((p) => p.key === 'rayleigh.quantization')?.value ?? '{}');
    expect(meta.layoutAnchors).toEqual(['/enc0/enc0.3/Relu/LayoutAnchor']);
    // onnxruntime now runs every MaxPool in NHWC and transposes the float layers' output once
    const a = await summariseOptimizedGraph(out);
    const b = await summariseOptimizedGraph(plain);
    expect(a.ops['com.microsoft.NhwcMaxPool']).toBe(3);
    expect(b.ops['com.microsoft.NhwcMaxPool']).toBe(2);
    expect(a.ops.Transpose).toBeLessThan(b.ops.Transpose);
    // and the anchor changes no number
    for (const seed of [5, 6]) expect(maxRelativeDifference(await run(plain, 64, 64, seed), await run(out, 64, 64, seed))).toBe(0);
  });

  it('refuses to anchor a tensor whose channel count it cannot tell', () => {
    const m = decodeModel(readFileSync(shippedFp32));
    expect(() => insertLayoutAnchors(m, ['input'])).toThrow(/channel count/);
  });
});
