import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { GpioError } from './types.ts';

/** Labels of the gpiochip that carries the 40-pin header's BCM GPIOs, per SoC generation. */
export const HEADER_CHIP_LABELS = ['pinctrl-bcm2835', 'pinctrl-bcm2711', 'pinctrl-bcm2712', 'pinctrl-rp1', 'raspberrypi-exp-gpio'];
const PREFERRED = ['pinctrl-rp1', 'pinctrl-bcm2711', 'pinctrl-bcm2835', 'pinctrl-bcm2712'];

export interface GpioChipInfo {
  name: string;
  base: number;
  ngpio: number;
  label: string;
}

export async function listSysfsChips(root = '/sys/class/gpio'): Promise<GpioChipInfo[]> {
  let entries: string[];
  try {
    await stat(root);
    entries = await readdir(root);
  } catch {
    throw new GpioError(
      `sysfs GPIO is not available (${root} does not exist): the kernel was built without CONFIG_GPIO_SYSFS ` +
        'or this is not a Linux board; use chip: "sim" or a kernel with sysfs GPIO',
    );
  }
  const chips: GpioChipInfo[] = [];
  for (const name of entries.filter((e) => e.startsWith('gpiochip')).sort()) {
    const dir = join(root, name);
    try {
      const base = Number.parseInt((await readFile(join(dir, 'base'), 'utf8')).trim(), 10);
      const ngpio = Number.parseInt((await readFile(join(dir, 'ngpio'), 'utf8')).trim(), 10);
      const label = (await readFile(join(dir, 'label'), 'utf8')).trim();
      if (Number.isFinite(base) && Number.isFinite(ngpio)) chips.push({ name, base, ngpio, label });
    } catch {
      // a chip directory without readable attributes is not usable; skip it
    }
  }
  return chips;
}

/**
 * Since kernel 6.6 (and on every Pi 5) the global sysfs numbers no longer start at 0: the header
 * chip gets a dynamic base (512 on a Pi 4, 571 on a Pi 5 whose header sits on the RP1's pinctrl).
 * ASSUMPTION: those two bases are examples, not relied on (the base is read from sysfs); the
 * chip labels in HEADER_CHIP_LABELS are the ones the Raspberry Pi kernel's device trees give
 * (raspberrypi/linux arch/arm64/boot/dts/broadcom/*.dts, compatible/label of the gpio node),
 * which settles them.
 * Resolve the BCM number to base+bcm on the chip whose label says it is the SoC pin controller.
 */
export async function resolveSysfsGpio(bcm: number, root = '/sys/class/gpio'): Promise<number> {
  if (!Number.isInteger(bcm) || bcm < 0) throw new GpioError(`invalid BCM GPIO number ${bcm}`);
  const chips = await listSysfsChips(root);
  const header = chips.filter((c) => HEADER_CHIP_LABELS.some((l) => c.label.startsWith(l)));
  header.sort((a, b) => rank(a.label) - rank(b.label));
  const chip = header[0];
  if (!chip) {
    const seen = chips.map((c) => `${c.name}(${c.label})`).join(', ') || 'none';
    throw new GpioError(`no Raspberry Pi pin controller gpiochip under ${root} (found: ${seen})`);
  }
  if (bcm >= chip.ngpio) throw new GpioError(`BCM GPIO ${bcm} out of range: ${chip.label} has ${chip.ngpio} lines`);
  return chip.base + bcm;
}

function rank(label: string): number {
  const i = PREFERRED.findIndex((p) => label.startsWith(p));
  return i < 0 ? PREFERRED.length : i;
}
