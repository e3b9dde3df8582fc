/**
 * A scripted INDI server for tests: a TCP listener on loopback that writes what the test tells it
 * and records what the client sends. Messages follow the INDI white paper (protocol 1.7,
 * appendix A DTD) and the shapes indiserver 1.9.9 + indi_simulator_ccd put on the wire (captured
 * with a plain socket: defSwitchVector CONNECTION, setBLOBVector/oneBLOB size/format/len, …).
 * Client commands are read with saxes, an independent XML parser, never with the code under test.
 * FITS files are written here from the FITS Standard 4.0 (§3.3 blocks of 2880 bytes, §4.1 80-byte
 * cards, §5.2 big-endian integers, BZERO 32768 for unsigned 16-bit), not with src/io/fits.ts.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { SaxesParser } from 'saxes';

export interface ClientCommand {
  tag: string;
  attrs: Record<string, string>;
  text: string;
  members: Array<{ name: string; text: string }>;
}

export class FakeIndiServer {
  readonly commands: ClientCommand[] = [];
  readonly sockets: Socket[] = [];
  connections = 0;
  /** written to every new client right away (after it sends anything) */
  onClient: (s: Socket) => void = () => {};
  private server: Server | undefined;

  async listen(): Promise<number> {
    this.server = createServer((s) => {
      this.connections++;
      this.sockets.push(s);
      s.on('error', () => {});
      const p = new SaxesParser({ fragment: true, xmlns: false });
      let cur: ClientCommand | undefined;
      let depth = 0;
      let text = '';
      p.on('opentag', (t) => {
        depth++;
        if (depth === 1) cur = { tag: t.name, attrs: t.attributes, text: '', members: [] };
        text = '';
      });
      p.on('text', (t) => {
        text += t;
      });
      p.on('closetag', (t) => {
        if (depth === 2 && cur) cur.members.push({ name: (t.attributes as Record<string, string>).name, text: text.trim() });
        if (depth === 1 && cur) {
          cur.text = text.trim();
          this.commands.push(cur);
          cur = undefined;
        }
        depth--;
        text = '';
      });
      s.setEncoding('utf8');
      s.on('data', (d: string) => p.write(d));
      this.onClient(s);
    });
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    const a = this.server.address();
    if (!a || typeof a === 'string') throw new Error('no port');
    return a.port;
  }

  get last(): Socket {
    const s = this.sockets.at(-1);
    if (!s) throw new Error('no client connected');
    return s;
  }

  write(xml: string, s: Socket = this.last): void {
    s.write(xml);
  }

  dropClients(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.dropClients();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  sent(tag: string, name?: string): ClientCommand[] {
    return this.commands.filter((c) => c.tag === tag && (name === undefined || c.attrs.name === name));
  }
}

const DEV = 'CCD Simulator';

/** the properties the simulator defines once connected (a subset, same shapes) */
export function defineCcd(opts: { device?: string; connected?: boolean; upload?: 'CLIENT' | 'LOCAL'; compress?: boolean } = {}): string {
  const d = opts.device ?? DEV;
  const on = (b: boolean) => (b ? 'On' : 'Off');
  const connected = opts.connected ?? true;
  const upload = opts.upload ?? 'CLIENT';
  let x = `<defSwitchVector device="${d}" name="CONNECTION" label="Connection" group="Main Control" state="Idle" perm="rw" rule="OneOfMany" timeout="60">
    <defSwitch name="CONNECT" label="Connect">
${on(connected)}
    </defSwitch>
    <defSwitch name="DISCONNECT" label="Disconnect">
${on(!connected)}
    </defSwitch>
</defSwitchVector>
<defTextVector device="${d}" name="DRIVER_INFO" label="Driver Info" group="General Info" state="Idle" perm="ro" timeout="60">
    <defText name="DRIVER_NAME" label="Name">
CCD Simulator
    </defText>
    <defText name="DRIVER_INTERFACE" label="Interface">
22
    </defText>
</defTextVector>
`;
  if (!connected) return x;
  x += `<defNumberVector device="${d}" name="CCD_EXPOSURE" label="Expose" group="Main Control" state="Idle" perm="rw" timeout="60">
    <defNumber name="CCD_EXPOSURE_VALUE" label="Duration (s)" format="%5.2f" min="0.01" max="3600" step="1">
1
    </defNumber>
</defNumberVector>
<defSwitchVector device="${d}" name="UPLOAD_MODE" label="Upload" group="Options" state="Idle" perm="rw" rule="OneOfMany" timeout="0">
    <defSwitch name="UPLOAD_CLIENT" label="Client">
${on(upload === 'CLIENT')}
    </defSwitch>
    <defSwitch name="UPLOAD_LOCAL" label="Local">
${on(upload === 'LOCAL')}
    </defSwitch>
    <defSwitch name="UPLOAD_BOTH" label="Both">
Off
    </defSwitch>
</defSwitchVector>
<defSwitchVector device="${d}" name="CCD_COMPRESSION" label="Compression" group="Image Settings" state="Idle" perm="rw" rule="OneOfMany" timeout="60">
    <defSwitch name="INDI_ENABLED" label="Enabled">
${on(opts.compress ?? false)}
    </defSwitch>
    <defSwitch name="INDI_DISABLED" label="Disabled">
${on(!(opts.compress ?? false))}
    </defSwitch>
</defSwitchVector>
<defBLOBVector device="${d}" name="CCD1" label="Image Data" group="Image Info" state="Idle" perm="ro" timeout="60">
    <defBLOB name="CCD1" label="Image"/>
</defBLOBVector>
`;
  return x;
}

function card(key: string, value: string, comment = ''): string {
  // §4.1.2: keyword in bytes 1–8, "= " in 9–10, fixed-format value right-justified to byte 30
  const v = value.startsWith("'") ? value.padEnd(20) : value.padStart(20);
  return `${key.padEnd(8)}= ${v}${comment ? ` / ${comment}` : ''}`.padEnd(80).slice(0, 80);
}

/** unsigned 16-bit FITS image, pixel (x, y) = f(x, y), with INDI's keywords */
export function fits16(width: number, height: number, f: (x: number, y: number) => number, extra: Record<string, string> = {}): Buffer {
  const cards = [
    card('SIMPLE', 'T'),
    card('BITPIX', '16'),
    card('NAXIS', '2'),
    card('NAXIS1', String(width)),
    card('NAXIS2', String(height)),
    card('BZERO', '32768'),
    card('BSCALE', '1'),
    card('INSTRUME', "'CCD Simulator'", 'CCD Name'),
    card('EXPTIME', '1.000000E-01', 'Total Exposure Time (s)'),
    card('PIXSIZE1', '5.200000E+00', 'Pixel Size 1 (microns)'),
    card('PIXSIZE2', '5.200000E+00', 'Pixel Size 2 (microns)'),
    card('XBINNING', '2', 'Binning factor in width'),
    card('YBINNING', '2', 'Binning factor in height'),
    card('XPIXSZ', '1.040000E+01', 'X binned pixel size in microns'),
    card('YPIXSZ', '1.040000E+01', 'Y binned pixel size in microns'),
    card('GAIN', '9.000E+01', 'Gain'),
    card('DATE-OBS', "'2026-12-01T22:36:24.779'", 'UTC start date of observation'),
    ...Object.entries(extra).map(([k, v]) => card(k, v)),
    'END'.padEnd(80),
  ];
  const header = Buffer.alloc(Math.ceil((cards.length * 80) / 2880) * 2880, ' ', 'latin1');
  header.write(cards.join(''), 0, 'latin1');
  const data = Buffer.alloc(Math.ceil((width * height * 2) / 2880) * 2880);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.writeInt16BE(f(x, y) - 32768, (y * width + x) * 2);
  }
  return Buffer.concat([header, data]);
}

export function blobMessage(file: Buffer, opts: { device?: string; format?: string; size?: number; corrupt?: boolean } = {}): string {
  const d = opts.device ?? DEV;
  let b64 = file.toString('base64');
  // lost characters in transit: 8 fewer, the rest intact
  if (opts.corrupt) b64 = b64.slice(0, 40) + b64.slice(48);
  return `<setBLOBVector device="${d}" name="CCD1" state="Ok" timeout="60" timestamp="2026-12-01T22:36:24">
    <oneBLOB name="CCD1" size="${opts.size ?? file.length}" format="${opts.format ?? '.fits'}" len="${file.length}">
${b64}
    </oneBLOB>
</setBLOBVector>
`;
}

export function exposureState(state: 'Busy' | 'Ok' | 'Alert', value: number, device = DEV): string {
  return `<setNumberVector device="${device}" name="CCD_EXPOSURE" state="${state}" timeout="60">
    <oneNumber name="CCD_EXPOSURE_VALUE">
${value}
    </oneNumber>
</setNumberVector>
`;
}

export async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
