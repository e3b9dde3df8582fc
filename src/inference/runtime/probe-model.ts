import { attr, DataType, encodeModel, makeTensor, makeValueInfo, type OnnxNode } from '../../onnx/model.ts';

/** Edge of the probe model's input and output (one channel, NCHW). */
export const PROBE_SIDE = 8;

/**
 * A model of a few hundred bytes that walks the same kernel families as the shipped ones: a float
 * Conv + Relu (MLAS sgemm/conv) and a QDQ Conv that graph optimisation fuses into QLinearConv
 * (the int8 kernels, whose CPU-specific dispatch is where an illegal instruction would hide).
 * Input `x` [1,1,8,8] float → output `y` [1,1,8,8] float.
 */
export function probeModelBytes(): Uint8Array {
  const c = 2;
  const w1 = new Float32Array(c * 9).map((_, i) => ((i % 5) - 2) / 8);
  const b1 = new Float32Array(c).fill(0.01);
  const w2 = new Int8Array(c * 9).map((_, i) => (i % 7) - 3);
  const nodes: OnnxNode[] = [
    { op_type: 'Conv', input: ['x', 'w1', 'b1'], output: ['h'], attribute: [attr.ints('pads', [1, 1, 1, 1])] },
    { op_type: 'Relu', input: ['h'], output: ['hr'] },
    { op_type: 'QuantizeLinear', input: ['hr', 'sa', 'za'], output: ['hq'] },
    { op_type: 'DequantizeLinear', input: ['hq', 'sa', 'za'], output: ['hd'] },
    { op_type: 'DequantizeLinear', input: ['w2q', 'sw', 'zw'], output: ['w2'] },
    { op_type: 'Conv', input: ['hd', 'w2'], output: ['o'], attribute: [attr.ints('pads', [1, 1, 1, 1])] },
    { op_type: 'QuantizeLinear', input: ['o', 'so', 'zo'], output: ['oq'] },
    { op_type: 'DequantizeLinear', input: ['oq', 'so', 'zo'], output: ['y'] },
  ];
  return encodeModel({
    ir_version: 8,
    opset_import: [{ domain: '', version: 13 }],
    producer_name: 'rayleigh-runtime-probe',
    graph: {
      name: 'probe',
      node: nodes,
      initializer: [
        makeTensor('w1', [c, 1, 3, 3], w1),
        makeTensor('b1', [c], b1),
        makeTensor('sa', [], new Float32Array([1 / 64])),
        makeTensor('za', [], new Uint8Array([0])),
        makeTensor('w2q', [1, c, 3, 3], w2),
        makeTensor('sw', [], new Float32Array([1 / 16])),
        makeTensor('zw', [], new Int8Array([0])),
        makeTensor('so', [], new Float32Array([1 / 32])),
        makeTensor('zo', [], new Uint8Array([128])),
      ],
      input: [makeValueInfo('x', DataType.FLOAT, [1, 1, PROBE_SIDE, PROBE_SIDE])],
      output: [makeValueInfo('y', DataType.FLOAT, [1, 1, PROBE_SIDE, PROBE_SIDE])],
    },
  });
}
