/**
 * `camera.type: indi` — rayleigh as one more INDI client next to Ekos. It connects to indiserver
 * (TCP, default port 7624), asks for every property (`getProperties`), picks the CCD device,
 * enables BLOBs for it and turns each `CCD1` BLOB (a base64 FITS file) into a frame with its
 * header as metadata. Passive mode only listens; active mode also starts exposures
 * (`CCD_EXPOSURE`) at the configured rate while no other client is exposing. A lost server is
 * reconnected with back-off; a broken stream or a vanished device is a reported fault, never a crash.
 *
 * Property and element names: INDI white paper (protocol 1.7) and the INDI standard properties
 * list (indilib.org "Standard Properties": CONNECTION, CCD_EXPOSURE, UPLOAD_MODE, CCD_COMPRESSION,
 * DRIVER_INFO/DRIVER_INTERFACE where bit 1 (value 2) is CCD_INTERFACE).
 */
import { connect, type Socket } from 'node:net';
import type { IndiCameraConfig } from '../config/camera.ts';
import { DeviceFault, type FaultRegistry } from '../hardware/faults.ts';
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import { Backoff, type BackoffOptions } from './backoff.ts';
import { FitsDecoder, type FitsDecoderOptions } from './indi-blob.ts';
import { frameMetaFromFits } from './indi-meta.ts';
import { type IndiMessage, IndiProtocolError, IndiXmlStream, indiCommands } from './indi-xml.ts';
import type { Frame, FrameSource, FrameSourceStats } from './types.ts';

const CCD_INTERFACE = 2;
const BLOB_PROPERTY = 'CCD1';

export type IndiLink = 'stopped' | 'connecting' | 'connected' | 'disconnected';

/** What health and the dashboard show about the INDI camera. */
export interface IndiStatus {
  link: IndiLink;
  server: string;
  /** the device frames come from; null until one is found (or after it disappeared) */
  device: string | null;
  /** the device's CONNECTION switch is on and it defines the CCD1 BLOB */
  ready: boolean;
  /** who is exposing: rayleigh (active mode), another client, or nobody */
  exposing: 'us' | 'other' | 'nobody';
  uploadMode?: string;
  /** the latest fault not yet cleared by a healthy frame; null when all is well */
  fault: string | null;
  frames: number;
  dropped: number;
  reconnects: number;
}

export interface IndiSourceOptions {
  log?: Logger;
  backoff?: BackoffOptions;
  decoder?: FitsDecoderOptions;
  /** give up a TCP connect after this long */
  connectTimeoutMs?: number;
  /** active mode: an exposure not delivered within exposure + this is abandoned (fault) */
  exposureGraceMs?: number;
  /** no usable device this long after connecting → a fault naming the devices the server has */
  deviceTimeoutMs?: number;
  /** faults are recorded here too, as device "camera" (the daemon's health reads it) */
  faults?: FaultRegistry;
}

interface Property {
  tag: string;
  state?: string;
  values: Map<string, string>;
}

interface Pending {
  bytes: Buffer;
  receivedAt: number;
}

export class IndiFrameSource implements FrameSource {
  readonly kind = 'indi';
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private readonly decoder: FitsDecoder;
  private running = false;
  private socket: Socket | undefined;
  private link: IndiLink = 'stopped';
  private reconnectTimer: NodeJS.Timeout | undefined;
  private deviceTimer: NodeJS.Timeout | undefined;
  private activeTimer: NodeJS.Timeout | undefined;
  private connects = 0;
  /** device → property → cached values (non-BLOB) for the current connection */
  private devices = new Map<string, Map<string, Property>>();
  private device: string | null = null;
  private blobEnabledFor = new Set<string>();
  private connectAskedAt = 0;
  private ourExposure: { startedAt: number; deadline: number } | undefined;
  private lastExposeAt = Number.NEGATIVE_INFINITY;
  private otherUntil = 0;
  private readonly queue: Pending[] = [];
  private decoding = false;
  private fault: string | null = null;
  private lastFaultKey = '';
  private seq = 0;
  private readonly st: FrameSourceStats & { dropped: number } = { frames: 0, restarts: 0, errors: 0, dropped: 0 };
  private onFrame: ((f: Frame) => void) | undefined;
  private onError: ((e: Error) => void) | undefined;
  private readonly waiters = new Set<(f: Frame) => void>();

  constructor(
    private readonly cfg: IndiCameraConfig,
    private readonly o: IndiSourceOptions = {},
  ) {
    this.log = o.log ?? silentLogger;
    this.backoff = new Backoff(o.backoff ?? { initialMs: 500, maxMs: 15_000 });
    this.decoder = new FitsDecoder(o.decoder);
  }

  get server(): string {
    return `${this.cfg.host}:${this.cfg.port}`;
  }

  async start(onFrame: (frame: Frame) => void, onError: (err: Error) => void): Promise<void> {
    if (this.running) throw new Error('indi source already started');
    this.onFrame = onFrame;
    this.onError = onError;
    this.running = true;
    this.open();
    if (this.cfg.mode === 'active') {
      const tick = Math.max(20, Math.min(250, 1000 / this.cfg.fps / 4));
      this.activeTimer = setInterval(() => this.maybeExpose(), tick);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    this.onFrame = undefined;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.activeTimer) clearInterval(this.activeTimer);
    this.reconnectTimer = undefined;
    this.activeTimer = undefined;
    const s = this.socket;
    this.socket = undefined;
    s?.destroy();
    this.resetConnectionState();
    this.link = 'stopped';
    this.queue.length = 0;
    await this.decoder.close();
  }

  /** the next frame while streaming; otherwise a short session that waits for one */
  async capture(): Promise<Frame> {
    if (this.running) return this.nextFrame();
    let failure: Error | undefined;
    await this.start(
      () => {},
      (e) => (failure = e),
    );
    const timeoutMs = this.cfg.exposure * 1000 + (this.o.exposureGraceMs ?? 30_000);
    try {
      return await Promise.race([
        this.nextFrame(),
        new Promise<never>((_, rej) =>
          setTimeout(
            () => rej(new Error(`indi: no frame from ${this.server} within ${timeoutMs} ms${failure ? ` (${failure.message})` : ''}`)),
            timeoutMs,
          ).unref(),
        ),
      ]);
    } finally {
      await this.stop();
    }
  }

  stats(): FrameSourceStats {
    return { ...this.st };
  }

  status(): IndiStatus {
    const now = Date.now();
    return {
      link: this.link,
      server: this.server,
      device: this.device,
      ready: this.deviceReady(),
      exposing: this.ourExposure ? 'us' : now < this.otherUntil ? 'other' : 'nobody',
      uploadMode: this.device ? this.onSwitch(this.device, 'UPLOAD_MODE') : undefined,
      fault: this.fault,
      frames: this.st.frames,
      dropped: this.st.dropped,
      reconnects: this.st.restarts,
    };
  }

  private nextFrame(): Promise<Frame> {
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  // ---- connection ----

  private open(): void {
    if (!this.running) return;
    if (this.connects++ > 0) this.st.restarts++;
    this.resetConnectionState();
    this.link = 'connecting';
    const xml = new IndiXmlStream((m) => this.onMessage(m), { maxBlobBytes: this.cfg.maxBlobBytes });
    const socket = connect({ host: this.cfg.host, port: this.cfg.port });
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.setTimeout(this.o.connectTimeoutMs ?? 10_000);
    socket.once('connect', () => {
      if (this.socket !== socket) return;
      socket.setTimeout(0);
      socket.setKeepAlive(true, 10_000);
      this.link = 'connected';
      this.log.info({ server: this.server }, 'indi: connected');
      socket.write(indiCommands.getProperties());
      if (this.cfg.device) {
        this.enableBlobs(this.cfg.device);
        // with Only the server sends this device's images and nothing else: no definitions to wait for
        if (this.cfg.blobMode === 'only') this.device = this.cfg.device;
      }
      this.armDeviceTimer();
    });
    socket.on('timeout', () => {
      if (this.socket !== socket) return;
      this.report('connect', `no answer from ${this.server} within ${this.o.connectTimeoutMs ?? 10_000} ms`);
      socket.destroy();
    });
    socket.on('data', (chunk: string) => {
      if (this.socket !== socket) return;
      try {
        xml.write(chunk);
      } catch (err) {
        const why = err instanceof IndiProtocolError ? err.message : `INDI stream: ${(err as Error).message}`;
        this.report('stream', `${why}; dropping the connection to ${this.server}`);
        socket.destroy();
        return;
      }
      // a BLOB arrives as hundreds of chunks that libuv may hand over back to back without
      // running timers in between: give the loop a turn after each large one
      if (chunk.length >= 16 * 1024) {
        socket.pause();
        setImmediate(() => {
          if (this.socket === socket) socket.resume();
        });
      }
    });
    socket.on('error', (err) => {
      if (this.socket !== socket) return;
      this.report(this.link === 'connecting' ? 'connect' : 'stream', `${this.server}: ${err.message}`);
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      const was = this.link;
      if (!this.running) return;
      if (xml.midMessage)
        this.report('stream', `INDI stream from ${this.server} ended inside ${xml.openElement ?? 'a message'} (truncated)`);
      else if (was === 'connected') this.report('stream', `connection to indiserver ${this.server} lost`);
      this.resetConnectionState();
      this.link = 'disconnected';
      const delay = this.backoff.next();
      this.log.warn({ delayMs: delay, server: this.server }, 'indi: reconnecting');
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = undefined;
        this.open();
      }, delay);
    });
  }

  /** a misspelt device name would otherwise look like a camera nobody exposes */
  private armDeviceTimer(): void {
    if (this.deviceTimer) clearTimeout(this.deviceTimer);
    this.deviceTimer = setTimeout(() => {
      this.deviceTimer = undefined;
      if (!this.running || this.link !== 'connected' || this.deviceReady()) return;
      const seen = [...this.devices.keys()];
      const list = seen.length
        ? `devices there: ${seen.map((d) => `"${d}"`).join(', ')}`
        : 'the server has no devices (no drivers running?)';
      if (this.device)
        this.report(
          'device',
          `INDI device "${this.device}" on ${this.server} is not ready (not connected, or no ${BLOB_PROPERTY} image property)`,
        );
      else if (this.cfg.device) this.report('device', `INDI device "${this.cfg.device}" not found on ${this.server}; ${list}`);
      else this.report('device', `no INDI camera (CCD interface) on ${this.server}; ${list}`);
      this.armDeviceTimer();
    }, this.o.deviceTimeoutMs ?? 15_000);
    this.deviceTimer.unref();
  }

  private resetConnectionState(): void {
    if (this.deviceTimer) clearTimeout(this.deviceTimer);
    this.deviceTimer = undefined;
    this.devices = new Map();
    this.device = null;
    this.blobEnabledFor = new Set();
    this.ourExposure = undefined;
    this.otherUntil = 0;
    this.connectAskedAt = 0;
  }

  private send(text: string): void {
    this.socket?.write(text);
  }

  private enableBlobs(device: string): void {
    if (this.blobEnabledFor.has(device)) return;
    this.blobEnabledFor.add(device);
    this.send(indiCommands.enableBLOB(device, this.cfg.blobMode === 'only' ? 'Only' : 'Also'));
  }

  // ---- messages ----

  private onMessage(m: IndiMessage): void {
    try {
      this.handle(m);
    } catch (err) {
      this.report('stream', `cannot handle <${m.tag}>: ${(err as Error).message}`);
    }
  }

  private handle(m: IndiMessage): void {
    const dev = m.attrs.device;
    const name = m.attrs.name;
    if (m.tag === 'message') {
      if (m.attrs.message) this.log.debug({ device: dev, message: m.attrs.message }, 'indi: server message');
      return;
    }
    if (!dev) return;
    if (m.tag === 'delProperty') {
      this.deleteProperty(dev, name);
      return;
    }
    const isDef = m.tag.startsWith('def') && m.tag.endsWith('Vector');
    const isSet = m.tag.startsWith('set') && m.tag.endsWith('Vector');
    if (!name || (!isDef && !isSet)) return;
    if (m.tag === 'setBLOBVector') {
      if (dev === this.device && name === BLOB_PROPERTY) this.onBlob(m);
      return;
    }
    let props = this.devices.get(dev);
    if (!props) {
      props = new Map();
      this.devices.set(dev, props);
    }
    let p = props.get(name);
    if (isDef || !p) {
      p = { tag: m.tag, values: new Map() };
      props.set(name, p);
    }
    if (m.attrs.state) p.state = m.attrs.state;
    for (const mem of m.members) if (mem.attrs.name) p.values.set(mem.attrs.name, mem.text);
    if (!this.device) this.chooseDevice();
    else if (!this.cfg.device && dev !== this.device && name === BLOB_PROPERTY && !this.devices.get(this.device)?.has(BLOB_PROPERTY)) {
      // picked for its CCD interface alone; a device that actually offers images is the better guess
      this.device = null;
      this.chooseDevice(dev);
    }
    if (dev !== this.device) return;
    this.onDeviceProperty(name, p, isDef);
  }

  private chooseDevice(prefer?: string): void {
    const want = this.cfg.device;
    let chosen: string | undefined;
    if (want) chosen = this.devices.has(want) ? want : undefined;
    else if (prefer) chosen = prefer;
    else {
      for (const [d, props] of this.devices) {
        const iface = Number(props.get('DRIVER_INFO')?.values.get('DRIVER_INTERFACE'));
        if (props.has(BLOB_PROPERTY) || (Number.isInteger(iface) && (iface & CCD_INTERFACE) !== 0)) {
          chosen = d;
          break;
        }
      }
    }
    if (!chosen) return;
    this.device = chosen;
    this.backoff.reset();
    this.log.info({ device: chosen, server: this.server, mode: this.cfg.mode }, 'indi: using device');
    this.enableBlobs(chosen);
    for (const [name, p] of this.devices.get(chosen) ?? []) this.onDeviceProperty(name, p, true);
  }

  private onDeviceProperty(name: string, p: Property, isDef: boolean): void {
    const dev = this.device as string;
    switch (name) {
      case 'CONNECTION': {
        const connected = p.values.get('CONNECT') === 'On';
        if (!connected && this.cfg.mode === 'active' && this.cfg.connect && Date.now() - this.connectAskedAt > 10_000) {
          this.connectAskedAt = Date.now();
          this.log.info({ device: dev }, 'indi: connecting the device');
          this.send(indiCommands.newSwitch(dev, 'CONNECTION', { CONNECT: true }));
        } else if (!connected && !isDef) {
          this.ourExposure = undefined;
          this.report('device', `INDI device "${dev}" was disconnected (CONNECTION off)`);
        }
        break;
      }
      case 'UPLOAD_MODE':
        if (this.cfg.uploadCheck && p.values.get('UPLOAD_LOCAL') === 'On') {
          this.report(
            'upload mode',
            `INDI device "${dev}" has UPLOAD_MODE Local: images stay on the INDI host and never reach rayleigh; set Upload to Client or Both (Ekos: camera options)`,
          );
        }
        break;
      case 'CCD_COMPRESSION':
        if (p.values.get('INDI_ENABLED') === 'On' || p.values.get('CCD_COMPRESS') === 'On') {
          this.report('compression', compressionAdvice(dev));
        }
        break;
      case 'CCD_EXPOSURE':
        if (p.state === 'Busy' && !this.ourExposure && !isDef) this.otherUntil = Date.now() + this.cfg.yieldSeconds * 1000;
        if (p.state === 'Alert' && this.ourExposure) {
          this.ourExposure = undefined;
          this.report('exposure', `INDI device "${dev}" reports the exposure failed (CCD_EXPOSURE Alert)`);
        }
        break;
    }
  }

  private deleteProperty(dev: string, name: string | undefined): void {
    if (name === undefined) {
      this.devices.delete(dev);
      if (dev === this.device) {
        this.device = null;
        this.blobEnabledFor.delete(dev);
        this.ourExposure = undefined;
        this.report('device', `INDI device "${dev}" disappeared from ${this.server}`);
        this.chooseDevice();
        this.armDeviceTimer();
      }
      return;
    }
    this.devices.get(dev)?.delete(name);
    if (dev === this.device && name === BLOB_PROPERTY) {
      this.ourExposure = undefined;
      this.report('device', `INDI device "${dev}" withdrew its image property ${BLOB_PROPERTY} (device disconnected?)`);
    }
  }

  private onSwitch(dev: string, prop: string): string | undefined {
    const p = this.devices.get(dev)?.get(prop);
    if (!p) return undefined;
    for (const [k, v] of p.values) if (v === 'On') return k;
    return undefined;
  }

  private deviceReady(): boolean {
    if (!this.device) return false;
    if (this.cfg.blobMode === 'only') return true;
    const props = this.devices.get(this.device);
    if (!props?.has(BLOB_PROPERTY)) return false;
    const conn = props.get('CONNECTION');
    return !conn || conn.values.get('CONNECT') === 'On';
  }

  // ---- active mode ----

  private maybeExpose(): void {
    if (!this.running || this.link !== 'connected' || !this.device) return;
    const now = Date.now();
    const ours = this.ourExposure;
    if (ours) {
      if (now < ours.deadline) return;
      this.ourExposure = undefined;
      this.report('exposure', `INDI device "${this.device}" did not deliver a ${this.cfg.exposure} s exposure in time; retrying`);
    }
    if (!this.deviceReady() || now < this.otherUntil || now - this.lastExposeAt < 1000 / this.cfg.fps) return;
    const props = this.devices.get(this.device);
    const exp = props?.get('CCD_EXPOSURE');
    if (!exp || exp.state === 'Busy') return;
    if (this.cfg.uploadCheck && props?.get('UPLOAD_MODE')?.values.get('UPLOAD_LOCAL') === 'On') return;
    this.setSubframe(props);
    this.lastExposeAt = now;
    this.ourExposure = { startedAt: now, deadline: now + this.cfg.exposure * 1000 + (this.o.exposureGraceMs ?? 30_000) };
    this.send(indiCommands.newNumber(this.device, 'CCD_EXPOSURE', { CCD_EXPOSURE_VALUE: this.cfg.exposure }));
  }

  /**
   * `camera.roi` in active mode: the driver reads out only that region (CCD_FRAME: X, Y, WIDTH,
   * HEIGHT in unbinned sensor pixels), asked again whenever the device reports another one.
   * Sent before CCD_EXPOSURE on the same connection, so it applies to that exposure.
   */
  private setSubframe(props: Map<string, Property> | undefined): void {
    const r = this.cfg.roi;
    const f = props?.get('CCD_FRAME');
    if (!r || !f || !this.device) return;
    const want = { X: r.x, Y: r.y, WIDTH: r.width, HEIGHT: r.height };
    if (Object.entries(want).every(([k, v]) => Number(f.values.get(k)) === v)) return;
    this.send(indiCommands.newNumber(this.device, 'CCD_FRAME', want));
    for (const [k, v] of Object.entries(want)) f.values.set(k, String(v));
  }

  /**
   * Where a frame sits on the sensor: the device's CCD_FRAME when the image has its size (and the
   * device bins 1×1), so a subframe, ours or a driver's, is placed and calibrated right.
   */
  private originOf(width: number, height: number): Frame['origin'] {
    const props = this.device ? this.devices.get(this.device) : undefined;
    const f = props?.get('CCD_FRAME');
    if (!f) return undefined;
    const bin = props?.get('CCD_BINNING');
    if (bin && (Number(bin.values.get('HOR_BIN') ?? 1) !== 1 || Number(bin.values.get('VER_BIN') ?? 1) !== 1)) return undefined;
    const [x, y, w, h] = ['X', 'Y', 'WIDTH', 'HEIGHT'].map((k) => Number(f.values.get(k)));
    return w === width && h === height && Number.isFinite(x) && Number.isFinite(y) ? { x, y } : undefined;
  }

  // ---- BLOBs → frames ----

  private onBlob(m: IndiMessage): void {
    const now = Date.now();
    if (this.ourExposure) this.ourExposure = undefined;
    else this.otherUntil = now + this.cfg.yieldSeconds * 1000;
    for (const b of m.members) {
      if (b.tag !== 'oneBLOB') continue;
      const format = (b.attrs.format ?? '').trim().toLowerCase();
      if (format.endsWith('.fz') || format.endsWith('.z')) {
        this.report('decode', compressionAdvice(this.device ?? '?', format));
        continue;
      }
      if (format !== '.fits' && format !== '.fit' && format !== '.fts') {
        this.report(
          'decode',
          `INDI device "${this.device}" sent a "${format || 'untyped'}" image; rayleigh reads FITS: set the driver's transfer format (CCD_TRANSFER_FORMAT) to FITS`,
        );
        continue;
      }
      if (b.blobError) {
        this.report('decode', `image from "${this.device}" skipped: ${b.blobError}`);
        continue;
      }
      if (!b.blob || b.blob.length === 0) continue;
      this.queue.push({ bytes: b.blob, receivedAt: now });
      while (this.queue.length > this.cfg.queue) {
        this.queue.shift();
        this.st.dropped++;
      }
    }
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.decoding) return;
    this.decoding = true;
    try {
      for (let item = this.queue.shift(); item && this.running; item = this.queue.shift()) {
        await this.decodeOne(item);
      }
    } finally {
      this.decoding = false;
    }
  }

  private async decodeOne(item: Pending): Promise<void> {
    const device = this.device ?? this.cfg.device ?? 'INDI';
    let frame: Frame;
    try {
      const { image, header } = await this.decoder.decode(item.bytes, `${device} ${BLOB_PROPERTY}`);
      frame = { seq: this.seq++, timestamp: item.receivedAt, image, source: 'indi', meta: frameMetaFromFits(header) };
      const origin = this.originOf(image.width, image.height);
      if (origin) frame.origin = origin;
    } catch (err) {
      if (!this.running) return;
      this.report('decode', `image from "${device}" unreadable: ${(err as Error).message}`);
      return;
    }
    if (!this.running) return;
    this.st.frames++;
    this.fault = null;
    this.lastFaultKey = '';
    for (const w of [...this.waiters]) {
      this.waiters.delete(w);
      w(frame);
    }
    try {
      this.onFrame?.(frame);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'indi: frame handler threw');
    }
  }

  // ---- faults ----

  private report(operation: string, message: string): void {
    const err = new DeviceFault('camera', `indi ${operation}`, message);
    this.st.errors++;
    this.st.lastError = err.message;
    this.fault = err.message;
    // a server that stays down would otherwise log the same line on every back-off step
    const key = `${operation}:${message}`;
    if (key !== this.lastFaultKey) this.log.warn({ err: err.message }, 'indi: fault');
    this.lastFaultKey = key;
    this.o.faults?.record('camera', err);
    try {
      this.onError?.(err);
    } catch {
      // an error callback must not take the source down
    }
  }
}

function compressionAdvice(dev: string, format?: string): string {
  return `INDI device "${dev}" compresses its images${format ? ` (${format})` : ''}; rayleigh reads uncompressed FITS only (no maintained npm decoder for Rice/fpack): turn compression off in the driver (Ekos: camera options, Compress off; or CCD_COMPRESSION → Disabled)`;
}
