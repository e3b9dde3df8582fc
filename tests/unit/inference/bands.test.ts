import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { analyseBands, type BandGraph, bandShape } from '../../../src/inference/band-plan.ts';
import { runBands } from '../../../src/inference/band-run.ts';
import { WorkerEngine } from '../../../src/inference/engine.ts';
import { findPeaks } from '../../../src/inference/peaks.ts';
import { openModelSession } from '../../../src/inference/runtime/index.ts';
import { MapStats, MapStitcher } from '../../../src/inference/tiling.ts';
import { GraphBuilder } from '../../../src/onnx/builder.ts';
import { attr, decodeModel, encodeModel, makeValueInfo, type OnnxModel } from '../../../src/onnx/model.ts';
import { extractSubgraph } from '../../../src/onnx/subgraph.ts';
import type { Image } from '../../../src/optics/image.ts';
import { buildDamnLikeModel, buildTinyUNet, TINY_UNET_MULTIPLE, TINY_UNET_RECEPTIVE_FIELD } from '../../fixtures/tiny-model.ts';
import { loadedDamnModel, spotFrame } from './helpers.ts';

const fixture = (file: string) => new Uint8Array(readFileSync(new URL(`../../fixtures/${file}`, import.meta.url)));
const shipped = (file: string) => new Uint8Array(readFileSync(new URL(`../../../models-int8/${file}`, import.meta.url)));

function maxRelDiff(a: Image, b: Image): number {
  expect(a.width).toBe(b.width);
  expect(a.height).toBe(b.height);
  let diff = 0;
  let peak = 0;
  for (let i = 0; i < a.data.length; i++) {
    diff = Math.max(diff, Math.abs(a.data[i] - b.data[i]));
    peak = Math.max(peak, b.data[i]);
  }
  return diff / peak;
}

/** The graph streamed band by band through real sessions, stitched into the unit-sum map. */
async function streamed(
  model: OnnxModel,
  g: BandGraph,
  frame: Image,
  rows: number,
  multiple: number,
  columns = 1,
): Promise<{ map: Image; bands: number }> {
  const sessions = await Promise.all(
    g.parts.map((p) =>
      openModelSession(encodeModel(p.model), {
        provider: 'cpu',
        threads: 1,
        inputName: p.inputs[0],
        outputName: p.output,
        spinning: false,
      }),
    ),
  );
  try {
    const stitch = new MapStitcher(frame.width, frame.height, g.scale);
    const stats = new MapStats(frame.width, frame.height, g.scale);
    const r = await runBands(
      frame,
      { graph: g, rows, columns: g.parts.map(() => columns), multiple, context: 1 },
      (k, feeds) => sessions[k].runTensors(feeds, g.parts[k].output),
      (t, out, ow, oh) => {
        stitch.consume(t, out, ow, oh);
        stats.consume(t, out, ow, oh);
      },
    );
    expect(model.graph).toBeDefined();
    return { map: stitch.finish(stats.sum), bands: r.bands };
  } finally {
    for (const s of sessions) await s.release();
  }
}

async function untiled(bytes: Uint8Array, frame: Image, multiple: number): Promise<Image> {
  const e = await WorkerEngine.onnx(loadedDamnModel(bytes, 'whole', 0, multiple), {
    provider: 'cpu',
    threads: 1,
    tile: { window: 0, memoryMB: 1024 },
  });
  try {
    return await e.reconstruct(frame);
  } finally {
    await e.close();
  }
}

describe('cutting a U-Net at its levels', () => {
  it('cuts before every pooling and upsampling, with each part’s context from its own convolutions', () => {
    const g = analyseBands(buildTinyUNet());
    // e0 (one 3×3 conv), e1 (pool + two 3×3 convs at stride 2), output (up + concat + two convs)
    expect(g.parts.map((p) => p.inputs.length)).toEqual([1, 1, 2]);
    expect(g.parts.map((p) => g.tensors[p.output].stride)).toEqual([1, 2, 0.25]);
    expect(g.parts.map((p) => [p.above, p.below])).toEqual([
      [1, 1],
      [4, 4],
      [2, 2],
    ]);
    expect(g.scale).toBe(4);
    expect(g.multiple).toBe(2);
    // the whole network's receptive field is the sum along the deepest path: 1 + 4 + 2 (+1 for the pooling grid)
    expect(g.parts.reduce((s, p) => s + p.above, 0)).toBeLessThanOrEqual(TINY_UNET_RECEPTIVE_FIELD);
  });

  it('cuts the shipped INT8 network at its quantised tensors, so parts pass uint8 between them', () => {
    const g = analyseBands(decodeModel(shipped('damn-int8.onnx')));
    expect(g.parts).toHaveLength(7);
    const cuts = g.parts.slice(0, -1).map((p) => g.tensors[p.output]);
    expect(cuts.every((t) => t.uint8)).toBe(true);
    expect(cuts.map((t) => t.stride)).toEqual([1, 2, 4, 8, 4, 2]);
    expect(g.multiple).toBe(8);
    // the dilated bottleneck at 1/8: 1 + 2 + 1 rows of its grid = 32 frame rows; full resolution parts need 2 and 4
    expect(g.parts.map((p) => p.above)).toEqual([2, 4, 8, 32, 8, 4, 4]);
    const macs = (m: BandGraph) => m.parts.reduce((s, p) => s + p.macsPerPixel, 0);
    // training/macs.py counts 61 704 for the float network; the quantizer adds a 1×1 layout anchor
    // (16×16 per pixel) and folds the head's 16 sub-pixel logits to 15 relative ones (−32×9)
    expect(macs(analyseBands(decodeModel(shipped('damn-fp32.onnx'))))).toBe(61704);
    expect(macs(g)).toBe(61704 + 256 - 288);
  });

  it('refuses a graph it cannot prove row-local, naming the node', () => {
    const b = new GraphBuilder('global');
    const x = b.input('input', ['N', 1, 'H', 'W']);
    const mean = b.node('ReduceMean', [x], [attr.ints('axes', [2, 3]), attr.int('keepdims', 1)]);
    b.node('Sub', [x, mean], [], ['output']);
    b.output('output', ['N', 1, 'H', 'W']);
    expect(() => analyseBands(b.build(13))).toThrow(/ReduceMean .*not over channels/);
    const s = new GraphBuilder('strided');
    const y = s.input('input', ['N', 1, 'H', 'W']);
    const w = s.constant('w', [1, 1, 3, 3], new Float32Array(9).fill(0.1));
    s.node('Conv', [y, w], [attr.ints('kernel_shape', [3, 3]), attr.ints('pads', [1, 1, 1, 1]), attr.ints('strides', [2, 2])], ['output']);
    s.output('output', ['N', 1, 'H', 'W']);
    expect(() => analyseBands(s.build(13))).toThrow(/Conv .*strided/);
    const c = new GraphBuilder('constant-map');
    const z = c.input('input', ['N', 1, 'H', 'W']);
    const ramp = c.constant(
      'ramp',
      [1, 1, 4, 4],
      new Float32Array(16).map((_, i) => i),
    );
    c.node('Add', [z, ramp], [], ['output']);
    c.output('output', ['N', 1, 'H', 'W']);
    expect(() => analyseBands(c.build(13))).toThrow(/Add .*varies along rows or columns/);
  });

  it('extracts the nodes between given tensors and leaves out inputs a part does not read', () => {
    const m = buildTinyUNet();
    const nodes = m.graph?.node ?? [];
    const pool = nodes.find((n) => n.op_type === 'MaxPool');
    const e0 = pool?.input?.[0] as string;
    const pooled = pool?.output?.[0] as string;
    const part = extractSubgraph(
      m,
      [makeValueInfo('input', 1, ['N', 1, 'H', 'W']), makeValueInfo(pooled, 1, ['N', 8, 'h', 'w'])],
      [makeValueInfo(e0, 1, ['N', 8, 'H', 'W'])],
    );
    expect(part.graph?.input?.map((v) => v.name)).toEqual(['input']);
    expect(part.graph?.node?.map((n) => n.op_type)).toEqual(['Conv', 'Relu']);
    expect(part.graph?.initializer?.length).toBe(2);
    expect(() => extractSubgraph(m, [], [makeValueInfo(e0, 1, ['N', 8, 'H', 'W'])])).toThrow(/input is needed/);
  });
});

describe('band shapes', () => {
  const g = analyseBands(decodeModel(shipped('damn-int8.onnx')));
  // what a shape holds at once, summed over the parts (each session keeps its own arena)
  const held = (w: number, s: { rows: number; columns: number[] }) =>
    g.parts.reduce((sum, p, k) => {
      const n = s.columns[k];
      return sum + (s.rows + p.above + p.below) * (w / n + (n > 1 ? p.left + p.right : 0)) * p.bytesPerPixel;
    }, 0);

  it('stays within the memory budget at sensor sizes, cutting columns before shortening bands too far', () => {
    for (const [w, h] of [
      [1456, 1088],
      [4056, 3040],
    ]) {
      for (const mb of [64, 128, 256]) {
        const s = bandShape(g, w, h, 8, mb * 2 ** 20);
        expect(s.rows % 8).toBe(0);
        expect(s.rows).toBeGreaterThanOrEqual(32);
        expect(s.rows).toBeLessThanOrEqual(h);
        expect(s.columns.every((n) => Number.isInteger(n) && n >= 1)).toBe(true);
        expect(held(w, s)).toBeLessThanOrEqual(mb * 2 ** 20);
      }
    }
    // the last part (the float head) is the hungriest: it is cut first
    const tight = bandShape(g, 4056, 3040, 8, 128 * 2 ** 20);
    expect(Math.max(...tight.columns)).toBe(tight.columns[g.parts.length - 1]);
  });

  it('gives a frame shorter than four grid steps one band', () => {
    expect(bandShape(g, 64, 20, 8, 160 * 2 ** 20)).toEqual({ rows: 24, columns: g.parts.map(() => 1) });
  });

  it('runs the whole frame in one band when the budget allows or there is none', () => {
    expect(bandShape(g, 200, 120, 8, 0)).toEqual({ rows: 120, columns: g.parts.map(() => 1) });
    expect(bandShape(g, 200, 120, 8, 2 ** 30)).toEqual({ rows: 120, columns: g.parts.map(() => 1) });
  });
});

describe('streaming a frame through the levels in row bands', () => {
  it('equals untiled inference for a random U-Net, bands of one grid step to many', async () => {
    const model = buildTinyUNet();
    const bytes = encodeModel(model);
    const g = analyseBands(model);
    const frame = spotFrame(75, 53, 7, 30);
    const whole = await untiled(bytes, frame, TINY_UNET_MULTIPLE);
    for (const [rows, columns] of [
      [2, 1],
      [6, 3],
      [16, 2],
    ]) {
      const s = await streamed(model, g, frame, rows, TINY_UNET_MULTIPLE, columns);
      expect(s.bands).toBe(Math.ceil(54 / Math.max(rows, 2)));
      expect(maxRelDiff(s.map, whole)).toBeLessThan(1e-5);
    }
  });

  it('equals untiled inference for the DAMN architecture and for the shipped INT8 model (bit for bit)', async () => {
    const frame = spotFrame(203, 141, 11, 60);
    const damnLike = buildDamnLikeModel();
    const a = await streamed(damnLike, analyseBands(damnLike), frame, 24, 8);
    expect(a.bands).toBe(6);
    expect(maxRelDiff(a.map, await untiled(encodeModel(damnLike), frame, 8))).toBeLessThan(1e-5);
    const int8 = shipped('damn-int8.onnx');
    const model = decodeModel(int8);
    const b = await streamed(model, analyseBands(model), frame, 32, 8, 3);
    expect(b.bands).toBe(5);
    expect(maxRelDiff(b.map, await untiled(int8, frame, 8))).toBe(0);
  });

  it('with too little context the seams show (the comparisons above can fail)', async () => {
    const model = buildTinyUNet();
    const g = analyseBands(model);
    const starved: BandGraph = { ...g, parts: g.parts.map((p) => ({ ...p, above: 0, below: 0, left: 0, right: 0 })) };
    const frame = spotFrame(75, 53, 7, 30);
    const s = await streamed(model, starved, frame, 8, TINY_UNET_MULTIPLE, 2);
    expect(maxRelDiff(s.map, await untiled(encodeModel(model), frame, TINY_UNET_MULTIPLE))).toBeGreaterThan(1e-3);
  });

  it('runs in the engine by default: localisations at band edges equal the untiled map’s', async () => {
    const bytes = encodeModel(buildDamnLikeModel());
    const model = loadedDamnModel(bytes, 'damn-like', 69, 8);
    const frame = spotFrame(96, 400, 5, 80);
    const whole = await untiled(bytes, frame, 8);
    const post = { threshold: 0.05, minDistance: 2, maxLocalizations: 1000 };
    const want = findPeaks(whole, 4, { threshold: post.threshold, minDistance: post.minDistance, maxPeaks: post.maxLocalizations });
    // 4 MB over a 96-px-wide frame: bands of a few tens of rows
    const e = await WorkerEngine.onnx(model, { provider: 'cpu', threads: 1, tile: { window: 512, memoryMB: 4 } });
    try {
      expect(e.tilingMode.mode).toBe('bands');
      const out = await e.process({ image: frame, postprocess: post });
      expect(out.tiles).toBeGreaterThan(2);
      expect(out.overhead).toBeGreaterThan(1);
      expect(out.overhead).toBeLessThan(1.5);
      expect(want.length).toBeGreaterThan(10);
      expect(out.localizations.count).toBe(want.length);
      for (let i = 0; i < want.length; i++) {
        expect(out.localizations.x[i]).toBeCloseTo(want[i].x, 4);
        expect(out.localizations.y[i]).toBeCloseTo(want[i].y, 4);
      }
    } finally {
      await e.close();
    }
  });

  it('a model trained on small frames runs in windows of that size with an 8-px halo (tile.mode trained, the default)', async () => {
    const bytes = encodeModel(buildDamnLikeModel());
    const base = loadedDamnModel(bytes, 'damn-like', 69, 8);
    const model = { ...base, entry: { ...base.entry, trainedFrame: 32, frameWindow: 32 } };
    const frame = spotFrame(96, 96, 5, 80);
    const e = await WorkerEngine.onnx(model, { provider: 'cpu', threads: 1, tile: { window: 512, memoryMB: 64 } });
    try {
      expect(e.tilingMode.mode).toBe('windows');
      expect(e.tiling?.maxWindow).toBe(32);
      expect(e.tiling?.halo).toBe(8);
      const out = await e.process({ image: frame, postprocess: { threshold: 0.05, minDistance: 2, maxLocalizations: 1000 } });
      // 96 px in ≤ 32-px windows overlapping by 2 × 8: at least 5 per axis
      expect(out.tiles).toBeGreaterThanOrEqual(25);
      expect(out.localizations.count).toBeGreaterThan(0);
    } finally {
      await e.close();
    }
    // asked for, the exact whole-frame tilings still run it
    const b = await WorkerEngine.onnx(model, { provider: 'cpu', threads: 1, tile: { mode: 'bands', window: 512, memoryMB: 64 } });
    try {
      expect(b.tilingMode.mode).toBe('bands');
    } finally {
      await b.close();
    }
    // trained on small frames but holding on whole ones (no frameWindow): the default is the bands
    const whole = { ...base, entry: { ...base.entry, trainedFrame: 32 } };
    const w = await WorkerEngine.onnx(whole, { provider: 'cpu', threads: 1, tile: { window: 512, memoryMB: 64 } });
    try {
      expect(w.tilingMode.mode).toBe('bands');
      expect(w.tiling?.halo).toBe(70);
    } finally {
      await w.close();
    }
  });

  it('falls back to overlap windows, saying why, for a graph it cannot cut', async () => {
    const b = new GraphBuilder('global');
    const x = b.input('input', ['N', 1, 'H', 'W']);
    const w = b.constant('w', [16, 1, 1, 1], new Float32Array(16).fill(1));
    const mean = b.node('ReduceMean', [x], [attr.ints('axes', [2, 3]), attr.int('keepdims', 1)]);
    const y = b.node('Conv', [b.node('Sub', [x, mean]), w], [attr.ints('kernel_shape', [1, 1])]);
    b.node('DepthToSpace', [y], [attr.int('blocksize', 4), attr.string('mode', 'CRD')], ['output']);
    b.output('output', ['N', 1, 'H4', 'W4']);
    const e = await WorkerEngine.onnx(loadedDamnModel(encodeModel(b.build(13)), 'global', 0, 1), {
      provider: 'cpu',
      threads: 1,
      tile: { window: 64, memoryMB: 64, halo: 0 },
    });
    try {
      expect(e.tilingMode).toEqual({ mode: 'windows', why: expect.stringMatching(/ReduceMean/) });
      const out = await e.process({ image: spotFrame(100, 100, 3), postprocess: { threshold: 0.1, minDistance: 2, maxLocalizations: 0 } });
      expect(out.tiles).toBe(4);
    } finally {
      await e.close();
    }
  });
});

it('the shipped fixture without pooling is one part', () => {
  const g = analyseBands(decodeModel(fixture('tiny-fp32.onnx')));
  expect(g.parts).toHaveLength(1);
  expect(g.parts[0].above).toBe(3);
});
