import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importCycles, importGraph } from '../../helpers/import-graph.ts';

const root = join(import.meta.dirname, '..', '..', '..');

describe('import graph of src/', () => {
  it('has no cycles, counting type-only imports too', () => {
    const g = importGraph(root, 'src');
    // the graph is really read: the daemon's entry reaches the pipeline
    expect(g.files.length).toBeGreaterThan(100);
    expect(g.edges).toContainEqual({ from: 'src/controller.ts', to: 'src/pipeline/pipeline.ts', typeOnly: false });
    expect(importCycles(g.files, g.edges)).toEqual([]);
  });

  it('finds a cycle through re-exports, type-only imports and import() calls', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-cycles-'));
    try {
      mkdirSync(join(dir, 'src', 'a'), { recursive: true });
      writeFileSync(join(dir, 'src', 'a', 'x.ts'), "import type { Y } from '../y.ts';\nexport type X = Y;\n");
      writeFileSync(join(dir, 'src', 'y.ts'), "export { z } from './z.ts';\nexport type Y = number;\n");
      writeFileSync(join(dir, 'src', 'z.ts'), "export const z = () => import('./a/x.ts');\n");
      writeFileSync(join(dir, 'src', 'free.ts'), "import { z } from './z.ts';\nexport const f = z;\n");
      const g = importGraph(dir, 'src');
      expect(g.edges).toContainEqual({ from: 'src/a/x.ts', to: 'src/y.ts', typeOnly: true });
      expect(importCycles(g.files, g.edges)).toEqual([['src/a/x.ts', 'src/y.ts', 'src/z.ts']]);
      // without the type-only edge the cycle is gone
      expect(
        importCycles(
          g.files,
          g.edges.filter((e) => !e.typeOnly),
        ),
      ).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
