import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from '../log.ts';
import { signalChild } from '../signal-child.ts';

/**
 * Board health from whatever the board offers: sysfs thermal zones everywhere, `vcgencmd` on a
 * Raspberry Pi, `tegrastats` on a Jetson. Every source is optional — a missing file or tool
 * yields null, never an error, so the same daemon runs on a laptop.
 */

export interface ThermalZone {
  zone: string;
  type: string;
  celsius: number;
}

export interface ThrottleFlags {
  /** raw bit field from `vcgencmd get_throttled` */
  raw: number;
  underVoltage: boolean;
  freqCapped: boolean;
  throttled: boolean;
  softTempLimit: boolean;
  underVoltageOccurred: boolean;
  freqCappedOccurred: boolean;
  throttledOccurred: boolean;
  softTempLimitOccurred: boolean;
}

export interface TegraStats {
  ramUsedMB: number | null;
  ramTotalMB: number | null;
  swapUsedMB: number | null;
  swapTotalMB: number | null;
  /** one entry per core; null for cores the governor switched off */
  cpus: Array<{ loadPercent: number; freqMHz: number | null } | null>;
  gpuLoadPercent: number | null;
  /** sensor name → °C; sensors reporting the -256 "absent" sentinel are left out */
  temperatures: Record<string, number>;
  /** rail name → current milliwatts */
  powerMilliwatts: Record<string, number>;
}

export interface SystemSnapshot {
  /** ms since epoch of the last refresh */
  at: number;
  cpuTemperatureC: number | null;
  thermalZones: ThermalZone[];
  throttling: ThrottleFlags | null;
  tegra: TegraStats | null;
}

/** Zone types that name the CPU / SoC die on Pi, Jetson and x86 kernels. */
const CPU_ZONE_TYPE = /^(cpu|soc|x86_pkg_temp|cpu-thermal|cpu_thermal|cpu-therm|tcpu|acpitz)/i;

/** Every readable thermal zone under `<sysRoot>/sys/class/thermal`. */
export async function readThermalZones(sysRoot = '/'): Promise<ThermalZone[]> {
  const base = join(sysRoot, 'sys/class/thermal');
  let entries: string[];
  try {
    entries = await readdir(base);
  } catch {
    return [];
  }
  const zones: ThermalZone[] = [];
  for (const zone of entries.filter((e) => /^thermal_zone\d+$/.test(e)).sort(byZoneNumber)) {
    try {
      const [type, temp] = await Promise.all([readFile(join(base, zone, 'type'), 'utf8'), readFile(join(base, zone, 'temp'), 'utf8')]);
      const milli = Number.parseInt(temp.trim(), 10);
      if (!Number.isFinite(milli)) continue;
      zones.push({ zone, type: type.trim(), celsius: milli / 1000 });
    } catch {
      // zones whose sensor is powered down return EIO/ENODATA on read: skip them
    }
  }
  return zones;
}

function byZoneNumber(a: string, b: string): number {
  return Number(a.slice('thermal_zone'.length)) - Number(b.slice('thermal_zone'.length));
}

/** The CPU zone if one is recognisable, else the first zone (single-zone boards). */
export function pickCpuTemperature(zones: ThermalZone[]): number | null {
  const cpu = zones.find((z) => CPU_ZONE_TYPE.test(z.type)) ?? zones[0];
  return cpu ? cpu.celsius : null;
}

export async function readCpuTemperature(sysRoot = '/'): Promise<number | null> {
  return pickCpuTemperature(await readThermalZones(sysRoot));
}

/** Bits of `vcgencmd get_throttled` as documented by Raspberry Pi. */
export function decodeThrottled(raw: number): ThrottleFlags {
  const bit = (n: number): boolean => (raw & (1 << n)) !== 0;
  return {
    raw,
    underVoltage: bit(0),
    freqCapped: bit(1),
    throttled: bit(2),
    softTempLimit: bit(3),
    underVoltageOccurred: bit(16),
    freqCappedOccurred: bit(17),
    throttledOccurred: bit(18),
    softTempLimitOccurred: bit(19),
  };
}

/** `throttled=0x50005` → 0x50005; anything else → null. */
export function parseThrottledOutput(stdout: string): number | null {
  const m = /throttled=(0x[0-9a-fA-F]+|\d+)/.exec(stdout);
  if (!m) return null;
  const v = Number(m[1]);
  return Number.isInteger(v) && v >= 0 ? v : null;
}

/** Runs a program with an argument array and resolves its stdout, or null if it cannot run. */
export type CommandRunner = (file: string, args: string[]) => Promise<string | null>;

export const execRunner: CommandRunner = (file, args) =>
  new Promise((resolve) => {
    execFile(file, args, { timeout: 3000, windowsHide: true }, (err, stdout) => {
      resolve(err ? null : String(stdout));
    });
  });

export async function readThrottled(run: CommandRunner = execRunner, vcgencmd = 'vcgencmd'): Promise<ThrottleFlags | null> {
  const out = await run(vcgencmd, ['get_throttled']);
  if (out === null) return null;
  const raw = parseThrottledOutput(out);
  return raw === null ? null : decodeThrottled(raw);
}

/**
 * One line of `tegrastats` output. The format differs between JetPack releases (Nano: `CPU@29.5C`,
 * `POM_5V_IN 2532/2532`; Orin: `cpu@45.7C`, `VDD_IN 4955mW/4955mW`, `GR3D_FREQ 0%@[305]`), so
 * each field is matched independently and missing ones stay null.
 */
export function parseTegrastatsLine(line: string): TegraStats | null {
  if (!/\bRAM \d+\/\d+MB\b/.test(line) && !/\bCPU \[/.test(line)) return null;
  const num = (s: string | undefined): number | null => {
    if (s === undefined) return null;
    const v = Number(s);
    return Number.isFinite(v) ? v : null;
  };
  const ram = /\bRAM (\d+)\/(\d+)MB/.exec(line);
  const swap = /\bSWAP (\d+)\/(\d+)MB/.exec(line);
  const cpuList = /\bCPU \[([^\]]*)\]/.exec(line);
  const cpus: TegraStats['cpus'] = [];
  if (cpuList) {
    for (const part of cpuList[1].split(',')) {
      const m = /^\s*(\d+)%(?:@(\d+))?\s*$/.exec(part);
      cpus.push(m ? { loadPercent: Number(m[1]), freqMHz: num(m[2]) } : null);
    }
  }
  const gpu = /\bGR3D_FREQ (\d+)%/.exec(line);
  const temperatures: Record<string, number> = {};
  for (const m of line.matchAll(/\b([A-Za-z][A-Za-z0-9_]*)@(-?\d+(?:\.\d+)?)C\b/g)) {
    const v = Number(m[2]);
    if (v > -200) temperatures[m[1]] = v;
  }
  const powerMilliwatts: Record<string, number> = {};
  for (const m of line.matchAll(/\b((?:VDD|POM|VIN)_[A-Z0-9_]+) (\d+)(?:mW)?\/(\d+)(?:mW)?/g)) {
    powerMilliwatts[m[1]] = Number(m[2]);
  }
  return {
    ramUsedMB: num(ram?.[1]),
    ramTotalMB: num(ram?.[2]),
    swapUsedMB: num(swap?.[1]),
    swapTotalMB: num(swap?.[2]),
    cpus,
    gpuLoadPercent: num(gpu?.[1]),
    temperatures,
    powerMilliwatts,
  };
}

/** Jetson boards ship tegrastats here; elsewhere there is nothing to spawn */
function defaultTegrastats(): string | null {
  return existsSync('/usr/bin/tegrastats') ? '/usr/bin/tegrastats' : null;
}

export interface SystemMonitorOptions {
  /** prefix for /sys, for tests; default "/" */
  sysRoot?: string;
  /** refresh period; default 10 s */
  intervalMs?: number;
  run?: CommandRunner;
  vcgencmd?: string;
  /** path of tegrastats; null disables it. Default: /usr/bin/tegrastats if it exists */
  tegrastats?: string | null;
  log?: Logger;
  now?: () => number;
}

/**
 * Polls the sources on a timer and keeps the last snapshot so the health payload can be built
 * synchronously. tegrastats streams by itself, so it runs as one long-lived child.
 */
export class SystemMonitor {
  private latest: SystemSnapshot | null = null;
  private tegra: TegraStats | null = null;
  private timer: NodeJS.Timeout | null = null;
  private tegraChild: ChildProcess | null = null;
  private vcgencmdMissing = false;
  private readonly opts: Required<Omit<SystemMonitorOptions, 'log' | 'tegrastats'>> & {
    log?: Logger;
    tegrastats: string | null | undefined;
  };

  constructor(opts: SystemMonitorOptions = {}) {
    this.opts = {
      sysRoot: opts.sysRoot ?? '/',
      intervalMs: opts.intervalMs ?? 10_000,
      run: opts.run ?? execRunner,
      vcgencmd: opts.vcgencmd ?? 'vcgencmd',
      now: opts.now ?? Date.now,
      log: opts.log,
      tegrastats: opts.tegrastats,
    };
  }

  snapshot(): SystemSnapshot | null {
    return this.latest;
  }

  async refresh(): Promise<SystemSnapshot> {
    const zones = await readThermalZones(this.opts.sysRoot);
    // a board without vcgencmd will not grow one; stop spawning after the first miss
    const throttling = this.vcgencmdMissing ? null : await readThrottled(this.opts.run, this.opts.vcgencmd);
    if (throttling === null) this.vcgencmdMissing = true;
    this.latest = {
      at: this.opts.now(),
      cpuTemperatureC: pickCpuTemperature(zones),
      thermalZones: zones,
      throttling,
      tegra: this.tegra,
    };
    return this.latest;
  }

  async start(): Promise<void> {
    await this.refresh().catch(() => undefined);
    this.startTegrastats();
    this.timer = setInterval(() => {
      this.refresh().catch((err: unknown) => this.opts.log?.debug({ err }, 'system health refresh failed'));
    }, this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.tegraChild) signalChild(this.tegraChild, 'SIGTERM');
    this.tegraChild = null;
  }

  private startTegrastats(): void {
    const file = this.opts.tegrastats === undefined ? defaultTegrastats() : this.opts.tegrastats;
    if (!file) return;
    const interval = String(Math.max(100, Math.round(this.opts.intervalMs)));
    let child: ChildProcess;
    try {
      child = spawn(file, ['--interval', interval], { stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return;
    }
    // ENOENT arrives as an 'error' event; without a listener it would crash the daemon
    child.on('error', () => {
      this.tegraChild = null;
    });
    child.unref();
    if (child.stdout) {
      createInterface({ input: child.stdout }).on('line', (line) => {
        const parsed = parseTegrastatsLine(line);
        if (parsed) {
          this.tegra = parsed;
          if (this.latest) this.latest = { ...this.latest, tegra: parsed };
        }
      });
    }
    this.tegraChild = child;
  }
}
