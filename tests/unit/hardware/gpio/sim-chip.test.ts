import { afterEach, describe, expect, it, vi } from 'vitest';
import { Debouncer } from '../../../../src/hardware/gpio/index.ts';
import { SimGpioChip } from '../../../../src/hardware/sim/gpio-chip.ts';

afterEach(() => vi.useRealTimers());

describe('simulated GPIO chip', () => {
  it('lets a device model observe outputs and drive inputs, with active-low inversion', async () => {
    const chip = new SimGpioChip();
    const out = await chip.line(4, 'out', { activeLow: true });
    const seen: number[] = [];
    chip.observe(4, (v) => seen.push(v));
    // electrical level starts low; logical 0 on an active-low line drives it high
    await out.write(0);
    await out.write(1);
    expect(seen).toEqual([1, 0]);
    expect(chip.level(4)).toBe(0);

    const inp = await chip.line(5, 'in');
    chip.drive(5, 1);
    expect(await inp.read()).toBe(1);
    await expect(inp.write(1)).rejects.toThrow(/input/);
    await expect(chip.line(5, 'in')).rejects.toThrow(/already in use/);
  });

  it('reports only accepted edges', async () => {
    const chip = new SimGpioChip();
    const inp = await chip.line(6, 'in', { edge: 'rising' });
    const got: number[] = [];
    inp.watch((v) => got.push(v));
    chip.drive(6, 1);
    chip.drive(6, 0);
    chip.drive(6, 1);
    expect(got).toEqual([1, 1]);
  });

  it('debounces a bouncing switch line into one edge', async () => {
    vi.useFakeTimers();
    const chip = new SimGpioChip();
    const inp = await chip.line(7, 'in', { debounceMs: 5 });
    const got: number[] = [];
    inp.watch((v) => got.push(v));
    for (const level of [1, 0, 1, 0, 1] as const) {
      chip.drive(7, level);
      vi.advanceTimersByTime(1);
    }
    expect(got).toEqual([]);
    vi.advanceTimersByTime(10);
    expect(got).toEqual([1]);
    // a glitch shorter than the debounce time is swallowed
    chip.drive(7, 0);
    vi.advanceTimersByTime(2);
    chip.drive(7, 1);
    vi.advanceTimersByTime(10);
    expect(got).toEqual([1]);
  });

  it('Debouncer passes every change straight through when disabled', () => {
    const got: number[] = [];
    const d = new Debouncer(0, 0, (v) => got.push(v));
    d.sample(1);
    d.sample(1);
    d.sample(0);
    expect(got).toEqual([1, 0]);
  });
});
