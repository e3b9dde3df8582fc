import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedBroker } from '../../src/mqtt/broker.ts';

/**
 * A real broker for integration tests: Mosquitto (if installed) with a generated config on a
 * free loopback port, or the embedded aedes broker. stop()/start() simulate an outage on the
 * same port; sessions survive it (Mosquitto persistence, aedes kept in memory).
 */
export type BrokerKind = 'mosquitto' | 'aedes';

export const MOSQUITTO = '/usr/sbin/mosquitto';

export function mosquittoAvailable(): boolean {
  try {
    accessSync(MOSQUITTO, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Brokers to run integration tests against: both when Mosquitto is installed. */
export function brokerKinds(): BrokerKind[] {
  return mosquittoAvailable() ? ['mosquitto', 'aedes'] : ['aedes'];
}

export interface TestTls {
  ca: string;
  cert: string;
  key: string;
  /** clients must present a certificate signed by ca */
  requireCertificate?: boolean;
}

export interface TestBrokerOptions {
  kind?: BrokerKind;
  tls?: TestTls;
  /** fixed port (e.g. to come back on the same one); default a free port */
  port?: number;
}

export interface TestBroker {
  kind: BrokerKind;
  url: string;
  port: number;
  running: boolean;
  /** outage: the broker goes away, sessions are kept for start() */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** final teardown */
  close(): Promise<void>;
}

import { freePort } from '../../src/net/free-port.ts';

export { freePort };

async function waitForPort(port: number, timeoutMs: number, proc?: ChildProcess): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (proc && proc.exitCode !== null) throw new Error(`mosquitto exited with code ${proc.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = netConnect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`broker did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startTestBroker(opts: TestBrokerOptions = {}): Promise<TestBroker> {
  const kind = opts.kind ?? (mosquittoAvailable() ? 'mosquitto' : 'aedes');
  const port = opts.port ?? (await freePort());
  const scheme = opts.tls ? 'mqtts' : 'mqtt';
  return kind === 'mosquitto' ? startMosquitto(port, scheme, opts.tls) : startAedes(port, scheme, opts.tls);
}

async function startMosquitto(port: number, scheme: string, tls?: TestTls): Promise<TestBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'rayleigh-mosq-'));
  mkdirSync(join(dir, 'data'));
  const lines = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'persistence true',
    `persistence_location ${join(dir, 'data')}/`,
    'autosave_interval 1',
    'log_dest none',
    'max_queued_messages 100000',
  ];
  if (process.getuid?.() === 0) lines.push('user root');
  if (tls) {
    lines.push(`cafile ${tls.ca}`, `certfile ${tls.cert}`, `keyfile ${tls.key}`);
    if (tls.requireCertificate) lines.push('require_certificate true');
  }
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `${lines.join('\n')}\n`);
  let proc: ChildProcess | undefined;
  const b: TestBroker = {
    kind: 'mosquitto',
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    running: false,
    async start() {
      if (proc) return;
      const p = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
      proc = p;
      let err = '';
      p.stderr?.on('data', (d: Buffer) => {
        err += d.toString();
      });
      try {
        await waitForPort(port, 10_000, p);
      } catch (e) {
        throw new Error(`${(e as Error).message}: ${err.trim()}`);
      }
      b.running = true;
    },
    async stop() {
      const p = proc;
      if (!p) return;
      proc = undefined;
      b.running = false;
      if (p.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        p.once('exit', () => resolve());
        p.kill('SIGTERM');
      });
    },
    async close() {
      await b.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await b.start();
  return b;
}

async function startAedes(port: number, scheme: string, tls?: TestTls): Promise<TestBroker> {
  const broker = new EmbeddedBroker({
    port,
    tls: tls
      ? {
          ca: readFileSync(tls.ca),
          cert: readFileSync(tls.cert),
          key: readFileSync(tls.key),
          requestCert: tls.requireCertificate === true,
          rejectUnauthorized: tls.requireCertificate === true,
        }
      : undefined,
  });
  const b: TestBroker = {
    kind: 'aedes',
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    running: false,
    async start() {
      await broker.start();
      if (broker.port !== port) throw new Error(`aedes came back on ${broker.port}, not ${port}`);
      b.running = true;
    },
    async stop() {
      await broker.stop({ keepSessions: true });
      b.running = false;
    },
    async close() {
      await broker.stop();
      b.running = false;
    },
  };
  await b.start();
  return b;
}

export interface TestPki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** a second CA the broker does not trust, with a client certificate it signed */
  rogueCert: string;
  rogueKey: string;
  cleanup(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): void {
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
    ],
    dir,
  );
}

function makeLeaf(dir: string, name: string, ca: string, cn: string, ext: string): void {
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(
    [
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${cn}`,
    ],
    dir,
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.crt`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    ],
    dir,
  );
}

/** Test CA, server certificate for 127.0.0.1/localhost, client certificate, and an untrusted one. */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'rayleigh-pki-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'rogue-ca');
  makeLeaf(dir, 'server', 'ca', '127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  makeLeaf(dir, 'client', 'ca', 'rayleigh-client', 'extendedKeyUsage=clientAuth\n');
  makeLeaf(dir, 'rogue', 'rogue-ca', 'rogue-client', 'extendedKeyUsage=clientAuth\n');
  const p = (f: string): string => join(dir, f);
  return {
    dir,
    ca: p('ca.crt'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
    rogueCert: p('rogue.crt'),
    rogueKey: p('rogue.key'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
