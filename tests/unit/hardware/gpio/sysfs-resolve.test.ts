import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GpioError, resolveSysfsGpio, SysfsGpioChip } from '../../../../src/hardware/gpio/index.ts';

const roots: string[] = [];
async function fakeSysfs(chips: Array<{ base: number; ngpio: number; label: string }>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'sysfs-gpio-'));
  roots.push(root);
  await writeFile(join(root, 'export'), '');
  for (const c of chips) {
    const dir = join(root, `gpiochip${c.base}`);
    await mkdir(dir);
    await writeFile(join(dir, 'base'), `${c.base}\n`);
    await writeFile(join(dir, 'ngpio'), `${c.ngpio}\n`);
    await writeFile(join(dir, 'label'), `${c.label}\n`);
  }
  return root;
}

afterEach(async () => {
  for (const r of roots.splice(0)) await rm(r, { recursive: true, force: true });
});

describe('BCM → sysfs GPIO number', () => {
  it('uses base 0 on old kernels', async () => {
    const root = await fakeSysfs([{ base: 0, ngpio: 54, label: 'pinctrl-bcm2835' }]);
    expect(await resolveSysfsGpio(17, root)).toBe(17);
  });

  it('adds the dynamic base of a Pi 4 on kernel ≥ 6.6', async () => {
    const root = await fakeSysfs([
      { base: 512, ngpio: 58, label: 'pinctrl-bcm2711' },
      { base: 570, ngpio: 8, label: 'raspberrypi-exp-gpio' },
    ]);
    expect(await resolveSysfsGpio(17, root)).toBe(529);
  });

  it('picks the RP1 header chip on a Pi 5 among several brcmstb chips', async () => {
    const root = await fakeSysfs([
      { base: 512, ngpio: 32, label: 'gpio-brcmstb@107d508500' },
      { base: 544, ngpio: 4, label: 'gpio-brcmstb@107d508520' },
      { base: 548, ngpio: 17, label: 'gpio-brcmstb@107d517c00' },
      { base: 571, ngpio: 54, label: 'pinctrl-rp1' },
    ]);
    expect(await resolveSysfsGpio(4, root)).toBe(575);
  });

  it('rejects a line the chip does not have', async () => {
    const root = await fakeSysfs([{ base: 571, ngpio: 54, label: 'pinctrl-rp1' }]);
    await expect(resolveSysfsGpio(60, root)).rejects.toThrow(/out of range/);
  });

  it('explains when there is no pin controller chip', async () => {
    const root = await fakeSysfs([{ base: 512, ngpio: 32, label: 'gpio-brcmstb@107d508500' }]);
    await expect(resolveSysfsGpio(4, root)).rejects.toThrow(/no Raspberry Pi pin controller/);
  });

  it('fails clearly where sysfs GPIO does not exist', async () => {
    const missing = join(tmpdir(), 'definitely-not-sysfs-gpio');
    await expect(resolveSysfsGpio(4, missing)).rejects.toBeInstanceOf(GpioError);
    await expect(new SysfsGpioChip(missing).line(4, 'out')).rejects.toThrow(/sysfs GPIO is not available/);
  });
});
