import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type CommandRunner,
  decodeThrottled,
  parseTegrastatsLine,
  parseThrottledOutput,
  readCpuTemperature,
  readThermalZones,
  readThrottled,
  SystemMonitor,
} from '../../../src/health/system.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function fakeSys(zones: Array<{ type: string; temp: string | null }>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'rayleigh-sys-'));
  dirs.push(root);
  const base = join(root, 'sys/class/thermal');
  await mkdir(base, { recursive: true });
  // cooling devices live in the same directory and must be ignored
  await mkdir(join(base, 'cooling_device0'));
  for (const [i, z] of zones.entries()) {
    const d = join(base, `thermal_zone${i}`);
    await mkdir(d);
    await writeFile(join(d, 'type'), `${z.type}\n`);
    if (z.temp !== null) await writeFile(join(d, 'temp'), `${z.temp}\n`);
  }
  return root;
}

describe('thermal zones', () => {
  it('reads millidegrees and prefers the CPU zone', async () => {
    const root = await fakeSys([
      { type: 'GPU-therm', temp: '40500' },
      { type: 'CPU-therm', temp: '52250' },
      { type: 'broken', temp: null },
    ]);
    const zones = await readThermalZones(root);
    expect(zones).toEqual([
      { zone: 'thermal_zone0', type: 'GPU-therm', celsius: 40.5 },
      { zone: 'thermal_zone1', type: 'CPU-therm', celsius: 52.25 },
    ]);
    expect(await readCpuTemperature(root)).toBe(52.25);
  });

  it('falls back to the first zone (Raspberry Pi has one, "cpu-thermal")', async () => {
    expect(await readCpuTemperature(await fakeSys([{ type: 'board', temp: '33000' }]))).toBe(33);
  });

  it('returns null when there is no thermal sysfs', async () => {
    const root = await mkdtemp(join(tmpdir(), 'rayleigh-sys-'));
    dirs.push(root);
    expect(await readCpuTemperature(root)).toBeNull();
  });
});

describe('vcgencmd get_throttled', () => {
  it('decodes current and sticky bits', () => {
    const f = decodeThrottled(0x50005);
    expect(f).toEqual({
      raw: 0x50005,
      underVoltage: true,
      freqCapped: false,
      throttled: true,
      softTempLimit: false,
      underVoltageOccurred: true,
      freqCappedOccurred: false,
      throttledOccurred: true,
      softTempLimitOccurred: false,
    });
    expect(decodeThrottled(0x8000a)).toMatchObject({
      freqCapped: true,
      softTempLimit: true,
      softTempLimitOccurred: true,
      underVoltage: false,
    });
  });

  it('parses the tool output', () => {
    expect(parseThrottledOutput('throttled=0x0\n')).toBe(0);
    expect(parseThrottledOutput('throttled=0x50005\n')).toBe(0x50005);
    expect(parseThrottledOutput('VCHI initialization failed\n')).toBeNull();
  });

  it('passes an argument array and maps a missing tool to null', async () => {
    const calls: Array<[string, string[]]> = [];
    const ok: CommandRunner = async (file, args) => {
      calls.push([file, args]);
      return 'throttled=0x20002\n';
    };
    expect((await readThrottled(ok))?.freqCappedOccurred).toBe(true);
    expect(calls).toEqual([['vcgencmd', ['get_throttled']]]);
    expect(await readThrottled(async () => null)).toBeNull();
    // the real runner on a machine without vcgencmd
    expect(await readThrottled(undefined, '/nonexistent/vcgencmd')).toBeNull();
  });
});

describe('tegrastats', () => {
  // recorded from a Jetson Nano (JetPack 4) and an Orin Nano (JetPack 5/6)
  const nano =
    'RAM 2159/3956MB (lfb 34x4MB) SWAP 0/1978MB (cached 0MB) IRAM 0/252kB(lfb 252kB) CPU [12%@1479,5%@1479,off,4%@1479] EMC_FREQ 3%@1600 GR3D_FREQ 7%@921 APE 25 PLL@26C CPU@29.5C PMIC@100C GPU@27.5C AO@35.5C thermal@28.5C POM_5V_IN 2532/2532 POM_5V_GPU 0/0 POM_5V_CPU 447/447';
  const orin =
    '03-14-2025 10:21:07 RAM 2448/7620MB (lfb 1x2MB) SWAP 0/3810MB (cached 0MB) CPU [0%@729,1%@729,0%@729,0%@729,2%@1510,0%@1510] EMC_FREQ 0%@2133 GR3D_FREQ 0%@[305] NVENC off NVDEC off VIC off APE 174 cpu@45.718C soc2@44.5C soc0@44.968C gpu@-256C tj@45.718C soc1@44.531C VDD_IN 4955mW/4955mW VDD_CPU_GPU_CV 475mW/475mW VDD_SOC 1426mW/1426mW';

  it('parses a Nano line', () => {
    const s = parseTegrastatsLine(nano);
    expect(s).not.toBeNull();
    expect(s?.ramUsedMB).toBe(2159);
    expect(s?.ramTotalMB).toBe(3956);
    expect(s?.swapTotalMB).toBe(1978);
    expect(s?.cpus).toEqual([
      { loadPercent: 12, freqMHz: 1479 },
      { loadPercent: 5, freqMHz: 1479 },
      null,
      { loadPercent: 4, freqMHz: 1479 },
    ]);
    expect(s?.gpuLoadPercent).toBe(7);
    expect(s?.temperatures).toMatchObject({ CPU: 29.5, GPU: 27.5, thermal: 28.5 });
    expect(s?.powerMilliwatts).toEqual({ POM_5V_IN: 2532, POM_5V_GPU: 0, POM_5V_CPU: 447 });
  });

  it('parses an Orin line and drops the -256 sentinel', () => {
    const s = parseTegrastatsLine(orin);
    expect(s?.cpus).toHaveLength(6);
    expect(s?.cpus[4]).toEqual({ loadPercent: 2, freqMHz: 1510 });
    expect(s?.temperatures.cpu).toBeCloseTo(45.718, 6);
    expect(s?.temperatures.tj).toBeCloseTo(45.718, 6);
    expect(s?.temperatures).not.toHaveProperty('gpu');
    expect(s?.powerMilliwatts.VDD_IN).toBe(4955);
    expect(s?.gpuLoadPercent).toBe(0);
  });

  it('rejects lines that are not tegrastats output', () => {
    expect(parseTegrastatsLine('tegrastats: command not found')).toBeNull();
    expect(parseTegrastatsLine('')).toBeNull();
  });
});

describe('SystemMonitor', () => {
  it('builds a snapshot from injected sources, with nulls for absent ones', async () => {
    const root = await fakeSys([{ type: 'cpu-thermal', temp: '61234' }]);
    const mon = new SystemMonitor({ sysRoot: root, run: async () => null, tegrastats: null, now: () => 42 });
    expect(mon.snapshot()).toBeNull();
    const s = await mon.refresh();
    expect(s).toEqual({
      at: 42,
      cpuTemperatureC: 61.234,
      thermalZones: [{ zone: 'thermal_zone0', type: 'cpu-thermal', celsius: 61.234 }],
      throttling: null,
      tegra: null,
    });
    expect(mon.snapshot()).toBe(s);
  });

  it('survives a tegrastats binary that does not exist', async () => {
    const root = await fakeSys([]);
    const mon = new SystemMonitor({
      sysRoot: root,
      run: async () => 'throttled=0x1',
      tegrastats: '/nonexistent/tegrastats',
      intervalMs: 60_000,
    });
    await mon.start();
    await new Promise((r) => setTimeout(r, 50));
    const s = mon.snapshot();
    mon.stop();
    expect(s?.cpuTemperatureC).toBeNull();
    expect(s?.throttling?.underVoltage).toBe(true);
    expect(s?.tegra).toBeNull();
  });

  it('streams a tegrastats child, passing --interval, into the snapshot', async () => {
    const root = await fakeSys([]);
    const argsFile = join(root, 'args');
    const fake = join(root, 'tegrastats');
    const line = 'RAM 1000/4000MB (lfb 1x4MB) SWAP 0/2000MB (cached 0MB) CPU [50%@1200,off] GR3D_FREQ 30%@921 CPU@40.5C';
    await writeFile(fake, `#!/bin/sh\necho "$@" > '${argsFile}'\necho '${line}'\nexec sleep 30\n`);
    await chmod(fake, 0o755);
    const mon = new SystemMonitor({ sysRoot: root, run: async () => null, tegrastats: fake, intervalMs: 2000 });
    await mon.start();
    try {
      await expect.poll(() => mon.snapshot()?.tegra?.gpuLoadPercent, { timeout: 5000 }).toBe(30);
      expect(mon.snapshot()?.tegra?.temperatures.CPU).toBe(40.5);
      expect((await readFile(argsFile, 'utf8')).trim()).toBe('--interval 2000');
    } finally {
      mon.stop();
    }
  });
});
