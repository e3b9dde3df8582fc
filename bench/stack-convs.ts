/**
 * The FP32 model with the quantizer's FP32 rewrites (src/inference/quantize/rewrite.ts: softmax
 * logits relative to the last channel, sibling Convs stacked), the same function up to float
 * rounding; for timing FP32 against INT8 files that carry the same rewrites.
 *
 *   npx tsx bench/stack-convs.ts models-int8/damn-fp32.onnx /tmp/damn-fp32-stacked.onnx
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dropSoftmaxDegree, mergeSiblingConvs, siblingConvGroups } from '../src/inference/quantize/rewrite.ts';
import { decodeModel, encodeModel } from '../src/onnx/model.ts';

const [from, to] = process.argv.slice(2);
if (!from || !to) {
  process.stderr.write('usage: stack-convs.ts IN.onnx OUT.onnx\n');
  process.exit(2);
}
const soft = dropSoftmaxDegree(decodeModel(readFileSync(from)));
const model = soft.model;
const { model: out, merged } = mergeSiblingConvs(model, siblingConvGroups(model));
writeFileSync(to, encodeModel(out));
process.stdout.write(
  `${to}: relative logits in ${soft.convs.join(', ') || 'none'}; ${merged.map((m) => `${m.merged.join(' + ')} → ${m.name}`).join('; ') || 'nothing to stack'}\n`,
);
