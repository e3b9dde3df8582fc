import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { attrInts, DataType, decodeModel, encodeModel, makeTensor, tensorValues } from '../../../src/onnx/model.ts';
import { buildTinyModel, buildTinyUNet } from '../../fixtures/tiny-model.ts';

const fixture = new URL('../../fixtures/tiny-fp32.onnx', import.meta.url);

describe('ONNX protobuf read/write', () => {
  it('round-trips the committed fixture byte for byte', () => {
    const bytes = new Uint8Array(readFileSync(fixture));
    const model = decodeModel(bytes);
    expect(model.graph?.node?.map((n) => n.op_type)).toEqual(['Conv', 'Relu', 'Conv', 'Relu', 'Add', 'Conv', 'DepthToSpace', 'Relu']);
    expect(Buffer.from(encodeModel(model)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('the committed fixtures are what the builder script makes', () => {
    expect(Buffer.from(encodeModel(buildTinyModel())).equals(readFileSync(fixture))).toBe(true);
    const unet = new URL('../../fixtures/tiny-unet-fp32.onnx', import.meta.url);
    expect(Buffer.from(encodeModel(buildTinyUNet())).equals(readFileSync(unet))).toBe(true);
  });

  it('keeps attributes, shapes, opsets and tensor data', () => {
    const model = decodeModel(encodeModel(buildTinyModel(5)));
    const conv = model.graph?.node?.[0];
    expect(conv && attrInts(conv, 'pads', [])).toEqual([1, 1, 1, 1]);
    expect(model.opset_import).toEqual([{ domain: '', version: 13 }]);
    const dims = model.graph?.input?.[0].type?.tensor_type?.shape?.dim;
    expect(dims).toEqual([{ dim_param: 'N' }, { dim_value: 1 }, { dim_param: 'H' }, { dim_param: 'W' }]);
    const w = model.graph?.initializer?.find((t) => t.name === 'c0.weight');
    expect(w?.dims).toEqual([8, 1, 3, 3]);
    const t = decodeModel(encodeModel({ graph: { initializer: [makeTensor('x', [3], new Int8Array([-64, 0, 63]))] } }));
    expect(t.graph?.initializer?.[0].data_type).toBe(DataType.INT8);
    expect([...tensorValues(t.graph?.initializer?.[0] ?? {})]).toEqual([-64, 0, 63]);
  });

  it('a re-encoded model runs in onnxruntime with the same output', async () => {
    const original = encodeModel(buildTinyModel(3));
    const reencoded = encodeModel(decodeModel(original));
    const x = new Float32Array(16 * 16).map((_, i) => ((i * 37) % 11) / 2500);
    const run = async (bytes: Uint8Array) => {
      const s = await ort.InferenceSession.create(bytes);
      const r = await s.run({ input: new ort.Tensor('float32', x, [1, 1, 16, 16]) });
      await s.release();
      return r.output.data as Float32Array;
    };
    const [a, b] = await Promise.all([run(original), run(reencoded)]);
    expect(a.length).toBe(64 * 64);
    expect([...b]).toEqual([...a]);
  });

  it('rejects bytes that are not a model', () => {
    expect(() => decodeModel(new TextEncoder().encode('definitely not protobuf \u00ff\u00ff'))).toThrow(/not an ONNX model/);
  });
});
