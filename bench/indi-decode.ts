/**
 * How long an INDI frame holds the daemon's event loop. indiserver + indi_simulator_ccd run as
 * child processes with the simulated sensor set to SIZE (default 4056×3040, a Raspberry Pi HQ
 * camera; 16-bit FITS, ~33 MB of base64 per BLOB); rayleigh's INDI source takes FRAMES exposures
 * in active mode while the event loop's delay and the main thread's busy time are sampled. Side
 * by side: the same BLOB decoded the naive way (one Buffer.from(base64) and one FITS conversion on
 * the main thread, a single block). On a loaded machine delays include time the process waited
 * for a core: the idle figure, taken just before in the same process, shows how much.
 *
 *   npx tsx bench/indi-decode.ts [--frames 5] [--width 4056] [--height 3040] [--json]
 */
import { spawn } from 'node:child_process';
import { createServer, connect as tcpConnect } from 'node:net';
import { loadavg } from 'node:os';
import { constants, monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { IndiFrameSource } from '../src/camera/indi.ts';
import type { Frame } from '../src/camera/types.ts';
import { indiCameraSchema } from '../src/config/camera.ts';
import { decodeFitsWithHeader, encodeFits } from '../src/io/fits.ts';
import { freePort } from '../src/net/free-port.ts';

const { values: args } = parseArgs({
  options: {
    frames: { type: 'string', default: '5' },
    width: { type: 'string', default: '4056' },
    height: { type: 'string', default: '3040' },
    json: { type: 'boolean', default: false },
  },
});
const FRAMES = Number(args.frames);
const W = Number(args.width);
const H = Number(args.height);
const DEVICE = 'CCD Simulator';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const port = await freePort();
  const server = spawn('indiserver', ['-p', String(port), '-u', `/tmp/rayleigh-indi-bench-${port}`, 'indi_simulator_ccd'], {
    stdio: 'ignore',
  });
  try {
    await sleep(1000);
    // play Ekos: connect the simulator and give it the sensor size
    const ctl = tcpConnect(port, '127.0.0.1');
    ctl.on('data', () => {});
    await new Promise<void>((r) => ctl.once('connect', () => r()));
    ctl.write('<getProperties version="1.7"/>\n');
    ctl.write(`<newSwitchVector device="${DEVICE}" name="CONNECTION"><oneSwitch name="CONNECT">On</oneSwitch></newSwitchVector>\n`);
    await sleep(1500);
    ctl.write(
      `<newNumberVector device="${DEVICE}" name="SIMULATOR_SETTINGS"><oneNumber name="SIM_XRES">${W}</oneNumber><oneNumber name="SIM_YRES">${H}</oneNumber></newNumberVector>\n`,
    );
    await sleep(1000);

    // the same process with nothing to do, same machine, same moment: what the load alone costs
    const idle = monitorEventLoopDelay({ resolution: 1 });
    idle.enable();
    await sleep(3000);
    idle.disable();

    const cfg = indiCameraSchema.parse({ type: 'indi', port, device: DEVICE, mode: 'active', exposure: 0.1, fps: 2, queue: 4 });
    const src = new IndiFrameSource(cfg);
    const frames: Frame[] = [];
    const errors: string[] = [];
    const h = monitorEventLoopDelay({ resolution: 1 });
    await src.start(
      (f) => frames.push(f),
      (e) => errors.push(e.message),
    );
    // the first frame starts the decode worker (tsx compiles it): not counted
    while (frames.length < 1 && errors.length < 20) await sleep(20);
    // garbage collections while streaming: the longest pause may be V8's, not ours
    const gcs: Array<{ ms: number; major: boolean }> = [];
    const gcObserver = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
        gcs.push({ ms: e.duration, major: kind === constants.NODE_PERFORMANCE_GC_MAJOR });
      }
    });
    gcObserver.observe({ entryTypes: ['gc'] });
    h.enable();
    const elu0 = performance.eventLoopUtilization();
    const t0 = performance.now();
    while (frames.length < FRAMES + 1 && errors.length < 20) await sleep(20);
    const seconds = (performance.now() - t0) / 1000;
    const elu = performance.eventLoopUtilization(elu0);
    h.disable();
    gcObserver.disconnect();
    await src.stop();
    ctl.destroy();
    if (frames.length < FRAMES + 1) throw new Error(`only ${frames.length} frames: ${errors.join('; ')}`);
    const last = frames.at(-1) as Frame;
    if (last.image.width !== W || last.image.height !== H)
      throw new Error(`simulator gave ${last.image.width}×${last.image.height}, wanted ${W}×${H}`);

    // the naive path on the same pixels: one base64 decode and one conversion on the main thread
    const file = encodeFits(last.image, 16);
    const b64 = file.toString('base64');
    const naive: number[] = [];
    for (let i = 0; i < 5; i++) {
      const a = performance.now();
      decodeFitsWithHeader(Buffer.from(b64, 'base64'));
      naive.push(performance.now() - a);
    }
    naive.sort((x, y) => x - y);
    const res = {
      sensor: `${W}x${H}`,
      blobMB: +(b64.length / 1e6).toFixed(1),
      frames: FRAMES,
      seconds: +seconds.toFixed(2),
      mainThreadBusyMsPerFrame: +(elu.active / FRAMES).toFixed(1),
      eventLoopDelayMaxMs: +(h.max / 1e6).toFixed(1),
      eventLoopDelayP99Ms: +(h.percentile(99) / 1e6).toFixed(1),
      idleEventLoopDelayMaxMs: +(idle.max / 1e6).toFixed(1),
      idleEventLoopDelayP99Ms: +(idle.percentile(99) / 1e6).toFixed(1),
      gcMaxPauseMs: +Math.max(0, ...gcs.map((g) => g.ms)).toFixed(1),
      gcMajorCount: gcs.filter((g) => g.major).length,
      naiveMainThreadMsMedian: +naive[2].toFixed(1),
      dropped: src.status().dropped,
      /** 1-minute load average when the run ended: delays on a shared machine follow it */
      loadAverage: +loadavg()[0].toFixed(1),
    };
    if (args.json) console.log(JSON.stringify(res, null, 2));
    else {
      console.log(
        `INDI ${res.sensor} 16-bit FITS, ${res.blobMB} MB base64 per BLOB, ${FRAMES} frames in ${res.seconds} s (load average ${res.loadAverage})`,
      );
      console.log(`  main thread busy (event-loop utilisation): ${res.mainThreadBusyMsPerFrame} ms per frame, spread over the transfer`);
      console.log(`  event-loop delay while receiving + decoding: max ${res.eventLoopDelayMaxMs} ms, p99 ${res.eventLoopDelayP99Ms} ms`);
      console.log(
        `  same process idle just before (machine load alone): max ${res.idleEventLoopDelayMaxMs} ms, p99 ${res.idleEventLoopDelayP99Ms} ms`,
      );
      console.log(`  garbage collection while streaming: longest pause ${res.gcMaxPauseMs} ms, ${res.gcMajorCount} major collections`);
      console.log(`  naive decode (Buffer.from + FITS conversion, main thread): ${res.naiveMainThreadMsMedian} ms per frame (median of 5)`);
    }
  } finally {
    server.kill('SIGKILL');
  }
}

await main();
