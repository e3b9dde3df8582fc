// Runs ONNX models on fixed inputs and writes their outputs, so two architectures can be compared.
// Plain JavaScript on purpose: it runs under qemu-user with an arm64 Node, where a TypeScript loader
// would only add emulated start-up time.
//   node bench/arm-check/run-models.mjs CASES.json OUT_DIR
// CASES.json: { models: [{ id, file }], inputs: [{ id, file, height, width }] } (inputs: little-endian float32)
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';

const [casesPath, outDir] = process.argv.slice(2);
if (!casesPath || !outDir) {
  process.stderr.write('usage: run-models.mjs CASES.json OUT_DIR\n');
  process.exit(2);
}
const cases = JSON.parse(readFileSync(casesPath, 'utf8'));

/** AT_HWCAP from the auxiliary vector (qemu-user fills it from the emulated CPU), or null off Linux. */
function hwcap() {
  try {
    const b = readFileSync('/proc/self/auxv');
    for (let i = 0; i + 16 <= b.length; i += 16) {
      if (b.readBigUInt64LE(i) === 16n) return b.readBigUInt64LE(i + 8);
    }
  } catch {
    // no auxv: not Linux
  }
  return null;
}
const cap = hwcap();
// arm64 HWCAP_ASIMDDP (bit 20, linux/arch/arm64/include/uapi/asm/hwcap.h): the dot-product instructions
const dotProduct = process.arch === 'arm64' && cap !== null ? (cap & (1n << 20n)) !== 0n : null;
const report = { arch: process.arch, node: process.version, onnxruntime: ort.env.versions.common, dotProduct, outputs: [] };
for (const m of cases.models) {
  const session = await ort.InferenceSession.create(m.file, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  });
  for (const input of cases.inputs) {
    const bytes = readFileSync(input.file);
    const x = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    const result = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [1, 1, input.height, input.width]) });
    const y = result[session.outputNames[0]];
    const file = join(outDir, `${m.id}.${input.id}.f32`);
    const data = y.data;
    writeFileSync(file, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    report.outputs.push({ model: m.id, input: input.id, dims: y.dims, file });
  }
  await session.release();
}
writeFileSync(join(outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
