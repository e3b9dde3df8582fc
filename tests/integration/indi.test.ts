/**
 * The INDI source against a real indiserver (Debian indi-bin 1.9.x) running the CCD simulator on
 * a free loopback port. A second plain TCP client plays Ekos: it speaks INDI by hand (protocol 1.7
 * white paper: newSwitchVector / newNumberVector) and never uses rayleigh's INDI code.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { IndiFrameSource } from '../../src/camera/indi.ts';
import type { Frame } from '../../src/camera/types.ts';
import { indiCameraSchema } from '../../src/config/camera.ts';
import { decodeFitsWithHeader } from '../../src/io/fits.ts';
import { freePort } from '../../src/net/free-port.ts';
import { startTestBroker, type TestBroker } from '../helpers/broker.ts';

const root = join(import.meta.dirname, '..', '..');

const DEVICE = 'CCD Simulator';
const hasIndi = spawnSync('sh', ['-c', 'command -v indiserver && command -v indi_simulator_ccd']).status === 0;
if (!hasIndi) console.warn('SKIP tests/integration/indi.test.ts: indiserver / indi_simulator_ccd not installed (apt-get install indi-bin)');

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

class IndiServer {
  private proc: ChildProcess | undefined;
  log = '';
  constructor(readonly port: number) {}

  async start(): Promise<void> {
    const p = spawn('indiserver', ['-p', String(this.port), '-u', `/tmp/rayleigh-indi-${this.port}`, 'indi_simulator_ccd'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      // its own process group, so nothing indiserver or its drivers signal can reach the test runner's
      detached: true,
    });
    this.proc = p;
    p.stderr?.on('data', (d: Buffer) => {
      this.log = (this.log + d.toString()).slice(-4000);
    });
    // listening once a plain connect succeeds
    await until(() => p.exitCode === null, 100, 'indiserver');
    const t0 = Date.now();
    for (;;) {
      const ok = await new Promise<boolean>((r) => {
        const s = tcpConnect(this.port, '127.0.0.1');
        s.once('connect', () => {
          s.destroy();
          r(true);
        });
        s.once('error', () => r(false));
      });
      if (ok) return;
      if (p.exitCode !== null || Date.now() - t0 > 10_000) throw new Error(`indiserver did not start: ${this.log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async kill(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((r) => {
      p.once('exit', () => r());
      p.kill('SIGKILL');
    });
  }
}

/** A hand-written INDI client standing in for Ekos. */
class Ekos {
  private socket: Socket | undefined;
  received = '';
  async connect(port: number): Promise<void> {
    const s = tcpConnect(port, '127.0.0.1');
    this.socket = s;
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      // only property updates matter here; keep the tail
      this.received = (this.received + d).slice(-200_000);
    });
    s.on('error', () => {});
    await new Promise<void>((r) => s.once('connect', () => r()));
    s.write('<getProperties version="1.7"/>\n');
  }
  send(xml: string): void {
    this.socket?.write(`${xml}\n`);
  }
  switchOn(prop: string, member: string): void {
    this.send(`<newSwitchVector device="${DEVICE}" name="${prop}"><oneSwitch name="${member}">On</oneSwitch></newSwitchVector>`);
  }
  numbers(prop: string, values: Record<string, number>): void {
    const m = Object.entries(values)
      .map(([k, v]) => `<oneNumber name="${k}">${v}</oneNumber>`)
      .join('');
    this.send(`<newNumberVector device="${DEVICE}" name="${prop}">${m}</newNumberVector>`);
  }
  /**
   * Like an Ekos capture: ask for an exposure, and again every 2 s until `done` (a request that
   * lands while an earlier exposure is still running is refused by the driver).
   */
  async exposeUntil(done: () => boolean, seconds: number, what: string): Promise<number> {
    let sent = 0;
    const t0 = Date.now();
    while (!done()) {
      if (Date.now() - t0 > 30_000) throw new Error(`timed out waiting for ${what}`);
      this.numbers('CCD_EXPOSURE', { CCD_EXPOSURE_VALUE: seconds });
      sent++;
      for (let i = 0; i < 100 && !done(); i++) await new Promise((r) => setTimeout(r, 20));
    }
    return sent;
  }
  /** connect the camera and bin it, waiting for the driver to define and then confirm CCD_BINNING */
  async connectAndBin(bin: number): Promise<void> {
    this.switchOn('CONNECTION', 'CONNECT');
    await until(() => this.received.includes('<defNumberVector device="CCD Simulator" name="CCD_BINNING"'), 15_000, 'CCD_BINNING defined');
    this.received = '';
    this.numbers('CCD_BINNING', { HOR_BIN: bin, VER_BIN: bin });
    await until(() => this.received.includes('<setNumberVector device="CCD Simulator" name="CCD_BINNING"'), 5000, 'CCD_BINNING set');
  }
  close(): void {
    this.socket?.destroy();
  }
}

describe.skipIf(!hasIndi)('INDI source against indiserver + indi_simulator_ccd', () => {
  let server: IndiServer;
  const cleanups: Array<() => Promise<void> | void> = [];
  beforeAll(async () => {
    server = new IndiServer(await freePort());
    await server.start();
  });
  afterAll(async () => {
    await server?.kill();
  });
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()?.();
  });

  function source(cfg: Record<string, unknown>) {
    const src = new IndiFrameSource(indiCameraSchema.parse({ type: 'indi', port: server.port, device: DEVICE, ...cfg }), {
      backoff: { initialMs: 100, maxMs: 500 },
    });
    cleanups.push(() => src.stop());
    const frames: Frame[] = [];
    const errors: Error[] = [];
    return {
      src,
      frames,
      errors,
      start: () =>
        src.start(
          (f) => frames.push(f),
          (e) => errors.push(e),
        ),
    };
  }

  it('active mode: connects the simulator, exposes and receives full-size FITS frames with their header metadata', async () => {
    const s = source({ mode: 'active', exposure: 0.1, fps: 10 });
    await s.start();
    await until(() => s.frames.length >= 2, 20_000, 'two frames');
    const f = s.frames[0];
    // the simulator's default sensor (SIMULATOR_SETTINGS SIM_XRES × SIM_YRES)
    expect([f.image.width, f.image.height]).toEqual([1280, 1024]);
    expect(f.meta).toMatchObject({ device: DEVICE, exposure: 0.1, binning: { x: 1, y: 1 }, pixelSize: { x: 5.2, y: 5.2 } });
    expect(f.meta?.dateObs).toMatch(/^\d{4}-\d\d-\d\dT/);
    let max = 0;
    for (const v of f.image.data) max = Math.max(max, v);
    expect(max).toBeGreaterThan(0);
    expect(s.src.status()).toMatchObject({ link: 'connected', device: DEVICE, ready: true, uploadMode: 'UPLOAD_CLIENT' });
    expect(s.frames[1].seq).toBe(f.seq + 1);
  });

  it('active mode with camera.roi: the driver reads out only the region (CCD_FRAME) and the frames say where it is', async () => {
    const s = source({ mode: 'active', exposure: 0.1, fps: 10, roi: { x: 320, y: 256, width: 400, height: 300 } });
    await s.start();
    await until(() => s.frames.some((f) => f.image.width === 400), 20_000, 'a subframe');
    const f = s.frames.find((q) => q.image.width === 400) as Frame;
    expect([f.image.width, f.image.height]).toEqual([400, 300]);
    expect(f.origin).toEqual({ x: 320, y: 256 });
    await s.src.stop();
    // the next client finds the driver still on the subframe; a source without a ROI asks for nothing
    // and places what it gets
    const t = source({ mode: 'active', exposure: 0.1, fps: 10 });
    await t.start();
    await until(() => t.frames.length >= 1, 20_000, 'a frame');
    expect(t.frames[0].origin).toEqual({ x: 320, y: 256 });
    await t.src.stop();
    // put the simulator back to its whole sensor for the tests after this one
    const u = source({ mode: 'active', exposure: 0.1, fps: 10, roi: { x: 0, y: 0, width: 1280, height: 1024 } });
    await u.start();
    await until(() => u.frames.some((q) => q.image.width === 1280), 20_000, 'a whole frame');
  });

  it('passive mode: frames arrive because another client (Ekos) exposes; rayleigh starts none', async () => {
    const ekos = new Ekos();
    await ekos.connect(server.port);
    cleanups.push(() => ekos.close());
    ekos.switchOn('CONNECTION', 'CONNECT');
    // smaller frames via binning, as Ekos would set them
    ekos.numbers('CCD_BINNING', { HOR_BIN: 2, VER_BIN: 2 });
    const s = source({ mode: 'passive' });
    await s.start();
    await until(() => s.src.status().ready, 10_000, 'device ready');
    // frames Ekos asked for are the 2×2-binned ones (an exposure the previous test left running is not)
    const fromEkos = () => s.frames.filter((f) => f.meta?.binning?.x === 2);
    await ekos.exposeUntil(() => fromEkos().length >= 1, 0.1, 'frame from the Ekos exposure');
    expect(fromEkos()[0].meta?.binning).toEqual({ x: 2, y: 2 });
    expect([fromEkos()[0].image.width, fromEkos()[0].image.height]).toEqual([640, 512]);
    await ekos.exposeUntil(() => fromEkos().length >= 2, 0.1, 'second Ekos frame');
    // nobody asks for more: none comes
    const n = s.frames.length;
    await new Promise((r) => setTimeout(r, 1500));
    expect(s.frames).toHaveLength(n);
    ekos.numbers('CCD_BINNING', { HOR_BIN: 1, VER_BIN: 1 });
  });

  it('passive mode with blobMode only: the images arrive without any property traffic', async () => {
    const ekos = new Ekos();
    await ekos.connect(server.port);
    cleanups.push(() => ekos.close());
    ekos.switchOn('CONNECTION', 'CONNECT');
    ekos.numbers('CCD_BINNING', { HOR_BIN: 4, VER_BIN: 4 });
    const s = source({ mode: 'passive', blobMode: 'only' });
    await s.start();
    await until(() => s.src.status().link === 'connected', 10_000, 'connected');
    await ekos.exposeUntil(() => s.frames.some((f) => f.meta?.binning?.x === 4), 0.1, 'frame');
    expect(s.frames.at(-1)?.image.width).toBe(320);
    ekos.numbers('CCD_BINNING', { HOR_BIN: 1, VER_BIN: 1 });
  });

  it('indiserver killed and restarted mid-stream: the same source reconnects, re-enables BLOBs and streams again', async () => {
    const s = source({ mode: 'active', exposure: 0.1, fps: 10 });
    await s.start();
    await until(() => s.frames.length >= 1, 20_000, 'first frame');
    await server.kill();
    await until(() => s.src.status().link !== 'connected', 5000, 'link down');
    expect(s.src.status()).toMatchObject({ device: null, ready: false });
    expect(s.errors.some((e) => /lost|truncated/.test(e.message))).toBe(true);
    await server.start();
    // received after the restart (a BLOB received before the kill may still be decoding)
    const restartedAt = Date.now();
    await until(() => s.frames.some((f) => f.timestamp >= restartedAt), 20_000, 'frame after restart');
    expect(s.src.stats().restarts).toBeGreaterThanOrEqual(1);
    expect(s.src.status(), JSON.stringify(s.errors.map((e) => e.message))).toMatchObject({
      link: 'connected',
      device: DEVICE,
      fault: null,
    });
  });
});

// The daemon a user runs (`rayleigh run --config`), fed by the INDI simulator, observed over MQTT only.
describe.skipIf(!hasIndi)('rayleigh run with camera.type indi', () => {
  let server: IndiServer;
  let broker: TestBroker;
  let ekos: Ekos;
  const dirs: string[] = [];
  beforeAll(async () => {
    server = new IndiServer(await freePort());
    await server.start();
    broker = await startTestBroker();
    ekos = new Ekos();
    await ekos.connect(server.port);
    // small frames keep inference quick: 4×4 binning of the 1280×1024 simulator, as an observer would for focusing
    await ekos.connectAndBin(4);
  }, 30_000);
  afterAll(async () => {
    ekos?.close();
    await server?.kill();
    await broker?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  async function daemon(mode: 'active' | 'passive', id: string, extra: string[] = []) {
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-indi-e2e-'));
    dirs.push(dir);
    const cfg = join(dir, 'config.yaml');
    writeFileSync(
      cfg,
      [
        `device: { id: ${id} }`,
        `stateDir: ${JSON.stringify(join(dir, 'state'))}`,
        `mqtt: { url: ${JSON.stringify(broker.url)}, protocolVersion: 4 }`,
        `camera: { type: indi, host: 127.0.0.1, port: ${server.port}, device: "${DEVICE}", mode: ${mode}, exposure: 0.1, fps: 4 }`,
        'health: { interval: 1 }',
        'web: { port: 0 }',
        'log: { level: warn }',
        ...extra,
      ].join('\n'),
    );
    const got: Array<{ topic: string; payload: Buffer }> = [];
    const sub = mqtt.connect(broker.url, { protocolVersion: 4, clientId: `indi-e2e-${id}-${process.pid}` });
    sub.on('message', (topic, payload) => got.push({ topic, payload }));
    await new Promise<void>((r) => sub.on('connect', () => r()));
    await sub.subscribeAsync(`rayleigh/${id}/#`, { qos: 1 });
    const proc: ChildProcess = spawn(process.execPath, [join(root, 'bin', 'rayleigh.mjs'), 'run', '--config', cfg], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const parsed = (topic: string) =>
      got.filter((m) => m.topic === `rayleigh/${id}/${topic}`).map((m) => JSON.parse(m.payload.toString()) as Record<string, unknown>);
    const metas = () => parsed('result/main/meta');
    const cameraHealth = () =>
      parsed('health').map((h) =>
        (h.devices as Array<{ name: string; ok: boolean; lastFault: string | null }>).find((d) => d.name === 'camera'),
      );
    const stop = async () => {
      if (proc.exitCode === null) {
        await new Promise<void>((r) => {
          proc.once('exit', () => r());
          proc.kill('SIGTERM');
        });
      }
      await sub.endAsync();
    };
    return {
      metas,
      cameraHealth,
      healths: () => parsed('health'),
      stop,
      stderr: () => stderr,
      exited: () => proc.exitCode !== null,
      stateDir: join(dir, 'state'),
    };
  }

  it("active mode: the daemon exposes, super-resolves and publishes the simulator's frames, and rides out an indiserver restart", async () => {
    const d = await daemon('active', 'indiact', ['pipeline: { fits: { enabled: true, maxRate: 10 } }']);
    try {
      await until(() => d.metas().length >= 2 || d.exited(), 80_000, 'two results');
      expect(d.exited(), d.stderr()).toBe(false);
      const m = d.metas()[0];
      expect(m.source).toBe('indi');
      expect(m.input).toEqual({ width: 320, height: 256 });
      expect((m.output as { width: number }).width).toBeGreaterThan(320);
      // the FITS header's facts travel with the result
      expect(m.camera).toMatchObject({ exposure: 0.1, device: DEVICE });
      expect(typeof (m.camera as { dateObs?: unknown }).dateObs).toBe('string');
      // pipeline.fits: the result as FITS for astronomers, the simulator's header keywords carried over
      const fitsDir = join(d.stateDir, 'fits');
      const fitsFiles = readdirSync(fitsDir).filter((f) => f.endsWith('.fits'));
      expect(fitsFiles.length).toBeGreaterThan(0);
      const fits = readFileSync(join(fitsDir, fitsFiles[0]));
      const { image: map, header } = decodeFitsWithHeader(fits);
      expect(map.width).toBe((m.output as { width: number }).width);
      expect(header.values.get('INSTRUME')).toBe(DEVICE);
      expect(header.values.get('EXPTIME')).toBeCloseTo(0.1, 9);
      expect(header.values.get('XBINNING')).toBe(4);
      expect(fits.includes("EXTNAME = 'LOCALIZATIONS'")).toBe(true);
      const fitsCount = () => (d.healths().at(-1)?.frames as { fits?: { written: number } } | undefined)?.fits?.written ?? 0;
      await until(() => fitsCount() >= 1, 5000, 'health counting the FITS files');

      // indiserver killed mid-stream: health says the camera is at fault, the daemon stays up,
      // and once indiserver is back the same process (same boot id) publishes again
      const healthBefore = d.cameraHealth().length;
      await server.kill();
      await until(
        () =>
          d
            .cameraHealth()
            .slice(healthBefore)
            .some((c) => c?.ok === false) || d.exited(),
        15_000,
        'camera fault in health',
      );
      expect(d.exited(), d.stderr()).toBe(false);
      expect(d.cameraHealth().at(-1)?.lastFault).toMatch(/indi (stream|connect) failed/);
      await server.start();
      const restartedAt = Date.now();
      ekos.close();
      ekos = new Ekos();
      await ekos.connect(server.port);
      await ekos.connectAndBin(4);
      await until(() => d.metas().some((x) => (x.timestamp as number) >= restartedAt) || d.exited(), 60_000, 'a result after the restart');
      expect(d.exited(), d.stderr()).toBe(false);
      const after = d.metas().find((x) => (x.timestamp as number) >= restartedAt);
      expect(after).toMatchObject({ source: 'indi', boot: m.boot });
      expect(after?.seq as number).toBeGreaterThan(m.seq as number);
    } finally {
      await d.stop();
    }
  }, 180_000);

  it('passive mode: results appear for the exposures Ekos takes, and only for those', { timeout: 150_000 }, async () => {
    const d = await daemon('passive', 'indipas');
    try {
      // like an Ekos capture sequence: expose every second until the daemon (still starting) shows a result
      let sent = 0;
      const t0 = Date.now();
      while (d.metas().length === 0 && !d.exited() && Date.now() - t0 < 80_000) {
        ekos.numbers('CCD_EXPOSURE', { CCD_EXPOSURE_VALUE: 0.1 });
        sent++;
        await new Promise((r) => setTimeout(r, 1000));
      }
      expect(d.exited(), d.stderr()).toBe(false);
      expect(d.metas()[0]).toMatchObject({ source: 'indi', input: { width: 320, height: 256 } });
      // the sequence ends: once the frames in flight are through, no more results, since the
      // daemon takes no exposures of its own (in active mode they would keep coming at 4 per second)
      let n = -1;
      for (let quiet = 0; quiet < 3 && Date.now() - t0 < 100_000; ) {
        await new Promise((r) => setTimeout(r, 1000));
        const now = d.metas().length;
        quiet = now === n ? quiet + 1 : 0;
        n = now;
      }
      expect(n).toBeLessThanOrEqual(sent);
      await new Promise((r) => setTimeout(r, 3000));
      expect(d.metas()).toHaveLength(n);
    } finally {
      await d.stop();
    }
  });
});
