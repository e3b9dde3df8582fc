// Runs an exported model in onnxruntime-node and compares it with PyTorch outputs written by export.py.
// Usage: node training/verify_onnx.mjs MODEL.onnx '[{"h":64,"w":64,"input":"in.bin","expected":"out.bin"}]'
// A case may name other tensors and output size (default: DAMN's "input" -> "output" at 4x):
//   {"inputName":"intensity","outputName":"map","outH":128,"outW":128,...}
import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';

const [modelPath, casesJson] = process.argv.slice(2);
const cases = JSON.parse(casesJson);
const session = await ort.InferenceSession.create(modelPath);
let worst = 0;
for (const c of cases) {
  const buf = readFileSync(c.input);
  const input = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const eb = readFileSync(c.expected);
  const expected = new Float32Array(eb.buffer, eb.byteOffset, eb.byteLength / 4);
  const out = await session.run({ [c.inputName ?? 'input']: new ort.Tensor('float32', input, [1, 1, c.h, c.w]) });
  const y = out[c.outputName ?? 'output'];
  const dims = y.dims.join('x');
  if (y.dims[2] !== (c.outH ?? 4 * c.h) || y.dims[3] !== (c.outW ?? 4 * c.w)) throw new Error(`output dims ${dims} for input ${c.h}x${c.w}`);
  let maxDiff = 0;
  let maxVal = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(y.data[i] - expected[i]));
    maxVal = Math.max(maxVal, Math.abs(expected[i]));
  }
  const rel = maxDiff / Math.max(maxVal, 1e-12);
  worst = Math.max(worst, rel);
  console.log(`ort-node ${c.h}x${c.w} -> ${dims}: max |diff| ${maxDiff.toExponential(2)} (relative to max ${rel.toExponential(2)})`);
}
if (worst > 1e-4) {
  console.error(`mismatch: worst relative difference ${worst}`);
  process.exit(1);
}
