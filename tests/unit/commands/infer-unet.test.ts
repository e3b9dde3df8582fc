import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findHoles } from '../../../src/inference/holes.ts';
import { decodeNpy, encodeNpy } from '../../../src/io/npy.ts';
import { holesSchema } from '../../../src/mqtt/payloads.ts';
import { makeImage } from '../../../src/optics/image.ts';
import { NANOHOLE, NANOHOLE_RADIUS, nanoholeInput, simulateNanohole } from '../../../src/optics/nanohole.ts';
import { Rng } from '../../../src/optics/random.ts';
import { tinyNanoholeReference } from '../../fixtures/tiny-model.ts';
import { tinyUnetModelsDir } from '../../helpers/nanohole-models.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const cli = (args: string[]) =>
  spawnSync(process.execPath, [join(root, 'bin', 'rayleigh.mjs'), ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });

describe('rayleigh infer --model <unet>', () => {
  it('writes the position map and the hole list (λ and camera px) of a recorded nanohole intensity', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-infer-unet-'));
    const models = tinyUnetModelsDir([{ id: 'unet-tiny', precision: 'fp32', gain: 12, bias: -6 }]);
    const cfg = join(dir, 'config.yaml');
    writeFileSync(cfg, `inference: { modelsDir: ${JSON.stringify(models)}, threads: 1 }\n`);
    const s = simulateNanohole({ holes: 4 }, new Rng(21));
    writeFileSync(join(dir, 'frame.npy'), encodeNpy(makeImage(128, 128, s.intensity)));
    const r = cli(['infer', '--model', 'unet-tiny', '--input', join(dir, 'frame.npy'), '--output', join(dir, 'map.npy'), '--config', cfg]);
    expect(r.status, r.stderr).toBe(0);
    const map = decodeNpy(readFileSync(join(dir, 'map.npy')));
    expect([map.width, map.height]).toEqual([128, 128]);
    const ref = tinyNanoholeReference(nanoholeInput(s.intensity));
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ref[i] - map.data[i]));
    expect(worst).toBeLessThan(1e-5);
    const doc = JSON.parse(readFileSync(join(dir, 'map.holes.json'), 'utf8')) as { model: string; holes: unknown };
    expect(doc.model).toBe('unet-tiny');
    const holes = holesSchema.parse(doc.holes);
    const expected = findHoles(ref, { size: 128, extent: NANOHOLE.mapExtent }, { holeRadius: NANOHOLE_RADIUS });
    expect(expected.count).toBeGreaterThan(0);
    expect(holes.count).toBe(expected.count);
    const pitch = NANOHOLE.inputExtent / NANOHOLE.inputSize;
    expect(holes.camera).toEqual({ pitch, centre: { x: 64, y: 64 } });
    for (const [i, h] of holes.list.entries()) {
      expect(h.x).toBeCloseTo(expected.holes[i].x, 3);
      expect(h.y).toBeCloseTo(expected.holes[i].y, 3);
      expect(h.px).toBeCloseTo(64 + h.x / pitch, 2);
      expect(h.py).toBeCloseTo(64 + h.y / pitch, 2);
      expect(h.radius).toBeGreaterThan(0);
    }
  }, 120_000);
});
