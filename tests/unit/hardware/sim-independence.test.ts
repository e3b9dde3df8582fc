import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/*
 * Issue #14: a simulated device that imports the driver's opcode tables or codec shares every
 * misunderstanding with it, so a wrong byte passes silently. The twins in src/hardware/sim/ may
 * use types from the drivers (shapes, not values) and shared non-device helpers (masks, the I2C
 * bus transport, GPIO debouncing), but no value from a device driver's module.
 *
 * Mutation check: add `import { DLPC900 } from '../dmd/dlpc900.ts'` (or any value import from
 * src/hardware/dmd/ or src/hardware/stage/) to a twin → "no twin imports a value from a driver module".
 */
const root = resolve(import.meta.dirname, '..', '..', '..');
const simDir = join(root, 'src', 'hardware', 'sim');
/** driver modules: device protocols, opcode tables, codecs */
const DRIVER_DIRS = ['src/hardware/dmd/', 'src/hardware/stage/'];
/** the rig wires a real driver to a twin on purpose; it is not a twin */
const NOT_A_TWIN = new Set(['dmd-rig.ts']);

interface Import {
  file: string;
  target: string;
  typeOnly: boolean;
}

function imports(file: string): Import[] {
  const text = readFileSync(join(simDir, file), 'utf8');
  const out: Import[] = [];
  for (const m of text.matchAll(/^import\s+(type\s+)?([\s\S]*?)\s+from\s+'([^']+)';/gm)) {
    const [, typeKeyword, clause, spec] = m;
    const names = clause
      .replace(/[{}]/g, '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const typeOnly = typeKeyword !== undefined || (names.length > 0 && names.every((n) => n.startsWith('type ')));
    const target = spec.startsWith('.') ? resolve(simDir, spec).slice(root.length + 1) : spec;
    out.push({ file, target, typeOnly });
  }
  return out;
}

describe('simulated devices are independent of the drivers', () => {
  const twins = readdirSync(simDir).filter((f) => f.endsWith('.ts') && !NOT_A_TWIN.has(f));

  it('finds the twins and reads their imports', () => {
    expect(twins).toEqual(expect.arrayContaining(['dmd-dlpc347x.ts', 'dmd-dlpc900.ts', 'dmd-dlpc900-image.ts', 'firmata-device.ts']));
    // the parser sees a known value import, so an empty result below means something
    expect(imports('dmd-dlpc900.ts')).toContainEqual({ file: 'dmd-dlpc900.ts', target: 'src/hardware/sim/i2c-bus.ts', typeOnly: false });
  });

  it('no twin imports a value from a driver module', () => {
    const offending = twins
      .flatMap(imports)
      .filter((i) => !i.typeOnly && DRIVER_DIRS.some((d) => i.target.startsWith(d)))
      .map((i) => `${i.file} → ${i.target}`);
    expect(offending).toEqual([]);
  });
});
