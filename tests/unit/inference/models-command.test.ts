import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listModels } from '../../../src/commands/models.ts';
import { sha256Hex } from '../../../src/inference/registry.ts';

describe('rayleigh models', () => {
  it('lists the built-in rl engine and every manifest entry with its contract and accuracy', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-models-'));
    try {
      const fixture = new URL('../../fixtures/tiny-fp32.onnx', import.meta.url).pathname;
      copyFileSync(fixture, join(dir, 'tiny.onnx'));
      const sha = sha256Hex(readFileSync(fixture));
      writeFileSync(
        join(dir, 'manifest.json'),
        JSON.stringify({
          models: [
            {
              id: 'tiny-int8',
              file: 'tiny.onnx',
              sha256: sha,
              task: 'damn',
              precision: 'int8',
              input: { name: 'input', layout: 'NCHW', normalisation: 'min-sub-unit-sum-x-hw/2500', multiple: 8 },
              output: { name: 'output', scale: 4, meaning: 'unit-sum map' },
              opset: 13,
              macsPerPixel: 4321,
              receptiveField: 3,
              accuracy: { mae: 0.0012 },
              quantization: { target: 'x86-vnni', weightBits: 8 },
              trainedBy: 'tests',
            },
          ],
        }),
      );
      const rows = await listModels(dir, 4);
      expect(rows.map((r) => r.id)).toEqual(['rl', 'tiny-int8']);
      expect(rows[1]).toMatchObject({ precision: 'int8', scale: 4, sha256: sha, macsPerPixel: 4321, accuracy: { mae: 0.0012 } });
      expect(rows[1].input).toContain('H,W%8');
      expect(rows[1].quantization).toBe('x86-vnni 8-bit');
      expect(rows[0].quantization).toBeNull();
      // an unknown target is refused, not shown
      const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
      m.models[0].quantization.target = 'riscv';
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
      await expect(listModels(dir, 4)).rejects.toThrow(/quantization\.target/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
