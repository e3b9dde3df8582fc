import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.ts';
import { exposeTensors, listCalibrationFrames } from '../../../src/inference/quantize/calibrate.ts';
import { tensorsToCalibrate } from '../../../src/inference/quantize/qdq.ts';
import { encodeNpy } from '../../../src/io/npy.ts';
import { buildTinyModel } from '../../fixtures/tiny-model.ts';
import { spotFrame } from './helpers.ts';

describe('calibration set', () => {
  it('uses only frame_*.npy when a simulator directory also holds truth maps', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-cal-'));
    try {
      for (const n of ['frame_0001.npy', 'frame_0000.npy', 'truth_0000.npy', 'params_0000.json'])
        writeFileSync(join(dir, n), encodeNpy(spotFrame(8, 8, 1)));
      expect((await listCalibrationFrames(dir)).map((p) => basename(p))).toEqual(['frame_0000.npy', 'frame_0001.npy']);
      rmSync(join(dir, 'frame_0000.npy'));
      rmSync(join(dir, 'frame_0001.npy'));
      expect((await listCalibrationFrames(dir)).map((p) => basename(p))).toEqual(['truth_0000.npy']);
      await expect(listCalibrationFrames(join(dir, 'missing'))).rejects.toThrow(UserError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes a comma-separated list of directories, one after the other', async () => {
    const a = mkdtempSync(join(tmpdir(), 'rayleigh-cal-a-'));
    const b = mkdtempSync(join(tmpdir(), 'rayleigh-cal-b-'));
    try {
      for (const n of ['frame_0001.npy', 'frame_0000.npy']) writeFileSync(join(a, n), encodeNpy(spotFrame(8, 8, 1)));
      writeFileSync(join(b, 'frame_0000.npy'), encodeNpy(spotFrame(8, 8, 1)));
      const got = await listCalibrationFrames(`${a}, ${b}`);
      expect(got).toEqual([join(a, 'frame_0000.npy'), join(a, 'frame_0001.npy'), join(b, 'frame_0000.npy')]);
      await expect(listCalibrationFrames(`${a},${join(b, 'missing')}`)).rejects.toThrow(UserError);
      await expect(listCalibrationFrames(' , ')).rejects.toThrow(UserError);
    } finally {
      rmSync(a, { recursive: true, force: true });
      rmSync(b, { recursive: true, force: true });
    }
  });

  it('exposes every activation around quantizable ops as a graph output', () => {
    const model = buildTinyModel();
    const names = tensorsToCalibrate(model);
    // input, 3 conv outputs, 2 relu outputs, the add output, the DepthToSpace output; the final
    // ReLU writes the graph output, so it stays float and its output needs no range
    expect(names).toHaveLength(8);
    expect(names).toContain('input');
    expect(names).not.toContain('output');
    const outs = exposeTensors(model, names).graph?.output?.map((v) => v.name) ?? [];
    // the graph input is observed from the feed, not re-exported; the model's own output stays
    expect(new Set(outs)).toEqual(new Set([...names.filter((n) => n !== 'input'), 'output']));
  });
});
