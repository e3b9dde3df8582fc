import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listCalibrationFrames, loadFrame } from '../../../src/inference/quantize/calibrate.ts';
import { quantizeModelFile } from '../../../src/inference/quantize/index.ts';
import {
  descend,
  excessMae,
  FIRST_STEP,
  groupDistances,
  loadTruth,
  outputDistance,
  type Truth,
  truthMae,
  truthMaes,
} from '../../../src/inference/quantize/range-search.ts';
import { encodeNpy } from '../../../src/io/npy.ts';
import { decodeModel, tensorValues } from '../../../src/onnx/model.ts';
import { Rng } from '../../../src/optics/random.ts';
import { randomScene } from '../../../src/optics/scene.ts';
import { renderFrame } from '../../../src/optics/simulate.ts';
import { spotFrame, writeCalibrationSet } from './helpers.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const fixtures = join(root, 'tests', 'fixtures');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rayleigh-rsearch-'));
  writeCalibrationSet(join(dir, 'busy'), 6);
  // a second regime: one bright spot per frame on a flat background
  mkdirSync(join(dir, 'sparse'));
  for (let i = 0; i < 3; i++) writeFileSync(join(dir, 'sparse', `f${i}.npy`), encodeNpy(spotFrame(40, 40, 7000 + i, 1)));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('outputDistance (squared Hellinger of unit-sum maps)', () => {
  it('is zero for maps equal up to scale, 2 for disjoint maps, and ignores negative values', () => {
    const a = new Float32Array([1, 2, 3, 0]);
    expect(
      outputDistance(
        a,
        a.map((v) => v * 7),
      ),
    ).toBeCloseTo(0, 12);
    expect(outputDistance(new Float32Array([1, 0]), new Float32Array([0, 5]))).toBeCloseTo(2, 12);
    expect(outputDistance(new Float32Array([1, -4, 3]), new Float32Array([1, 0, 3]))).toBeCloseTo(0, 12);
    // (√½ − 1)² + (√½ − 0)² = 2 − √2
    expect(outputDistance(new Float32Array([1, 1]), new Float32Array([1, 0]))).toBeCloseTo(2 - Math.SQRT2, 12);
  });

  it('groupDistances averages per group, not over all frames', () => {
    const same = new Float32Array([1, 1]);
    const off = new Float32Array([1, 0]);
    // group 0: one exact frame, one off frame; group 1: one exact frame
    const d = groupDistances([same, same, same], [same, off, same], [0, 0, 1], 2);
    expect(d[0]).toBeCloseTo((2 - Math.SQRT2) / 2, 12);
    expect(d[1]).toBe(0);
  });
});

describe('the truth objective', () => {
  const truth = { width: 2, height: 2, scale: 2, data: new Float32Array([3, 0, 0, 1]) };
  it('truthMae is the unit-sum MAE on the frame, ignoring the padded columns and negative values', () => {
    // a 3-wide map whose third column is padding; unit sums 0.75/0.25 against 0.5/0.5
    const map = new Float32Array([1, -2, 9, 0, 1, 9]);
    expect(truthMae(map, 3, truth)).toBeCloseTo((0.25 + 0 + 0 + 0.25) / 4, 12);
    expect(truthMae(new Float32Array([6, 0, 0, 2]), 2, truth)).toBe(0);
  });

  it('excessMae is Σ MAE(INT8) / Σ MAE(FP32) − 1 per group, with the map grid k× the input', () => {
    const exact = new Float32Array([3, 0, 0, 1]);
    const off = new Float32Array([1, 0, 0, 1]); // MAE 0.125
    const offer = new Float32Array([1, 1, 0, 1]); // unit sums 1/3 each: MAE (5/12 + 1/3 + 0 + 1/12) / 4
    const input = { width: 1, height: 1 }; // the 2×2 map is 2× a 1×1 input
    const truths = [truth, truth, truth];
    const inputs = [input, input, input];
    const g = excessMae(truthMaes([off, off, exact], truths, inputs), truthMaes([offer, off, exact], truths, inputs), [0, 0, 1], 2);
    expect(g[0]).toBeCloseTo((5 / 24 + 0.125) / 0.25 - 1, 6); // float32 maps
    expect(g[1]).toBe(0); // FP32 exact: no ratio to take
    expect(() => truthMaes([off], [{ ...truth, scale: 4 }], [input])).toThrow("the model's map is 2× the frame, the truth 4×");
  });

  it('loadTruth renders the emitters of params_N.json beside frame_N.npy, and nothing for other files', async () => {
    const d = join(dir, 'truth');
    mkdirSync(d);
    writeFileSync(join(d, 'frame_0007.npy'), encodeNpy(spotFrame(4, 3, 1, 0)));
    const emitters = [
      { x: 1.3, y: 2.9, photons: 50 },
      { x: 9, y: 1, photons: 7 }, // outside: dropped
    ];
    writeFileSync(join(d, 'params_0007.json'), JSON.stringify({ width: 4, height: 3, scale: 2, emitters }));
    const t = await loadTruth(join(d, 'frame_0007.npy'));
    expect([t?.width, t?.height]).toEqual([8, 6]);
    expect(t?.data[5 * 8 + 2]).toBe(50);
    expect(t?.data.reduce((a, b) => a + b, 0)).toBe(50);
    expect(await loadTruth(join(dir, 'busy', 'frame-000.npy'))).toBeUndefined();
    writeFileSync(join(d, 'frame_0008.npy'), encodeNpy(spotFrame(4, 3, 1, 0)));
    expect(await loadTruth(join(d, 'frame_0008.npy'))).toBeUndefined(); // no params
  });
});

describe('descend (coordinate descent on range factors)', () => {
  it('minimises the worst group, where the mean of the groups would stop elsewhere', async () => {
    // x = factor in steps of FIRST_STEP; group 0 wants x = 0, group 1 x = 3. The worst group is
    // least at x = 1 (4 and 4); the mean would be least at x = 0.6 and the descent would stop near 0.5.
    const x = (s: Map<string, number>) => Math.log(s.get('t') ?? 1) / Math.log(FIRST_STEP);
    const evaluate = async (s: Map<string, number>) => [4 * x(s) ** 2, (x(s) - 3) ** 2];
    const r = await descend(['t'], evaluate, 6);
    expect(r.scales.get('t')).toBeCloseTo(FIRST_STEP, 9);
    expect(r.first).toEqual([0, 9]);
    expect(r.best[0]).toBeCloseTo(4, 9);
    expect(r.best[1]).toBeCloseTo(4, 9);
  });

  it('keeps a factor only when it lowers the distance', async () => {
    const r = await descend(['a', 'b'], async (s) => [1 + (s.get('a') ?? 1) ** 2 + (s.get('b') ?? 1) ** -2], 2);
    expect(r.scales.size).toBe(2); // a shrinks and b grows: both lower the distance
    const flat = await descend(['a'], async () => [1, 2], 3);
    expect(flat.scales.size).toBe(0);
    expect(flat.best).toEqual([1, 2]);
  });
});

async function outputs(model: Uint8Array | string, frames: string[]): Promise<Float32Array[]> {
  const s = await ort.InferenceSession.create(model as string, { logSeverityLevel: 3 });
  const out: Float32Array[] = [];
  for (const f of frames) {
    const img = await loadFrame(f, 8, 'damn');
    const r = await s.run({ input: new ort.Tensor('float32', img.data, [1, 1, img.height, img.width]) });
    out.push(new Float32Array(r.output.data as Float32Array));
  }
  await s.release();
  return out;
}

function scaleOf(model: ReturnType<typeof decodeModel>, tensor: string): number {
  const name = `${tensor.replace(/[^A-Za-z0-9_./:-]/g, '_')}__scale`;
  const t = (model.graph?.initializer ?? []).find((x) => x.name === name);
  if (!t) throw new Error(`no ${name}`);
  return tensorValues(t)[0];
}

describe('quantize --range-search', () => {
  it("minimises the worst directory's distance to FP32, reports each directory truthfully and records the scales", async () => {
    const model = join(fixtures, 'tiny-fp32.onnx');
    const calibration = `${join(dir, 'busy')},${join(dir, 'sparse')}`;
    const plainOut = join(dir, 'plain.onnx');
    const searchedOut = join(dir, 'searched.onnx');
    await quantizeModelFile({ model, calibration, out: plainOut, threads: 1 });
    const r = await quantizeModelFile({ model, calibration, out: searchedOut, threads: 1, rangeSearch: 2 });
    const s = r.rangeSearch;
    if (!s) throw new Error('no range search in the report');
    expect(s.directories.map((d) => [d.dir, d.frames])).toEqual([
      [join(dir, 'busy'), 6],
      [join(dir, 'sparse'), 3],
    ]);
    expect(s.before).toBe(Math.max(...s.directories.map((d) => d.before)));
    expect(s.after).toBe(Math.max(...s.directories.map((d) => d.after)));
    expect(s.after).toBeLessThanOrEqual(s.before);
    expect(s.trials).toBeGreaterThan(1);
    expect(s.scales.size).toBeGreaterThan(0);
    expect(s.after).toBeLessThan(s.before);

    // the figures are those of the written model, measured here independently
    const frames = await listCalibrationFrames(calibration);
    const groups = frames.map((f) => (f.startsWith(join(dir, 'busy')) ? 0 : 1));
    const ref = await outputs(model, frames);
    const measured = groupDistances(ref, await outputs(searchedOut, frames), groups, 2);
    const plain = groupDistances(ref, await outputs(plainOut, frames), groups, 2);
    for (let g = 0; g < 2; g++) {
      expect(measured[g]).toBeCloseTo(s.directories[g].after, 5);
      expect(plain[g]).toBeCloseTo(s.directories[g].before, 5);
    }

    // each rescaled tensor's quantization step is the plain model's times the recorded factor
    const searched = decodeModel(readFileSync(searchedOut));
    const meta = JSON.parse(searched.metadata_props?.find((p) => p.key === 'rayleigh.quantization')?.value ?? '{}');
    expect(meta.rangeSearch.passes).toBe(2);
    expect(s.objective).toBe('distance'); // these frames carry no truth
    expect(Object.keys(meta.rangeSearch.scales).length).toBe(s.scales.size);
    const plainModel = decodeModel(readFileSync(plainOut));
    for (const [t, f] of s.scales) expect(scaleOf(searched, t) / scaleOf(plainModel, t)).toBeCloseTo(f, 4);
  });

  it("scores --search-frames that carry the simulator's truth by INT8's excess MAE over FP32, the eval's figure", async () => {
    const sim = join(dir, 'sim');
    mkdirSync(sim);
    const rng = new Rng(5);
    for (let i = 0; i < 4; i++) {
      const emitters = randomScene(rng, { width: 32, height: 32, density: 20, photons: 4000 });
      writeFileSync(join(sim, `frame_000${i}.npy`), encodeNpy(renderFrame(emitters, { shape: 'gauss', width: 1.5 }, 32, 32, 5, rng)));
      writeFileSync(join(sim, `params_000${i}.json`), JSON.stringify({ width: 32, height: 32, scale: 4, emitters }));
    }
    const model = join(fixtures, 'tiny-fp32.onnx');
    const plainOut = join(dir, 'plain-sim.onnx');
    const out = join(dir, 'searched-sim.onnx');
    await quantizeModelFile({ model, calibration: join(dir, 'busy'), out: plainOut, threads: 1 });
    const r = await quantizeModelFile({ model, calibration: join(dir, 'busy'), out, threads: 1, rangeSearch: 1, searchFrames: sim });
    const s = r.rangeSearch;
    if (!s) throw new Error('no range search in the report');
    expect(r.frames).toBe(6); // statistics from the calibration directory only
    expect(s.objective).toBe('excess-mae');
    expect(s.directories.map((d) => [d.dir, d.frames])).toEqual([[sim, 4]]);
    const frames = await listCalibrationFrames(sim);
    const truths = await Promise.all(frames.map(async (f) => (await loadTruth(f)) as Truth));
    const inputs = await Promise.all(frames.map((f) => loadFrame(f, 8, 'damn')));
    const ref = await outputs(model, frames);
    const groups = [0, 0, 0, 0];
    expect(excessMae(truthMaes(ref, truths, inputs), truthMaes(await outputs(plainOut, frames), truths, inputs), groups, 1)[0]).toBeCloseTo(
      s.directories[0].before,
      6,
    );
    expect(excessMae(truthMaes(ref, truths, inputs), truthMaes(await outputs(out, frames), truths, inputs), groups, 1)[0]).toBeCloseTo(
      s.directories[0].after,
      6,
    );
    expect(s.after).toBeLessThanOrEqual(s.before);
    await expect(quantizeModelFile({ model, calibration: join(dir, 'busy'), out, searchFrames: sim })).rejects.toThrow(
      '--search-frames: only the range search reads them',
    );
    // a wrong search directory is named as such, before the statistics pass
    await expect(
      quantizeModelFile({ model, calibration: join(dir, 'busy'), out, rangeSearch: 1, searchFrames: join(dir, 'missing') }),
    ).rejects.toThrow(`--search-frames: cannot read directory ${join(dir, 'missing')}`);
  });

  it('the CLI refuses a pass count that is not an integer in 0..20', () => {
    for (const bad of ['-1', '21', '1.5']) {
      const r = spawnSync(
        process.execPath,
        [
          join(root, 'bin', 'rayleigh.mjs'),
          'quantize',
          '--model',
          join(fixtures, 'tiny-fp32.onnx'),
          '--calibration',
          join(dir, 'busy'),
          '--out',
          join(dir, 'cli.onnx'),
          '--range-search',
          bad,
        ],
        { cwd: root, encoding: 'utf8', timeout: 120_000 },
      );
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`--range-search: expected an integer in 0..20, got "${bad}"`);
    }
  });
});
