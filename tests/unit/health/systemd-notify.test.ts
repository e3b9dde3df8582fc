import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { formatAssignments, notifySocketPath, SystemdNotifier, watchdogIntervalMs } from '../../../src/health/systemd-notify.ts';

const PYTHON = '/usr/bin/python3';
const haveTools = existsSync(PYTHON);
if (!haveTools) console.warn('skipping sd_notify socket tests: needs /usr/bin/python3');

/**
 * Plays systemd's notify socket: binds AF_UNIX SOCK_DGRAM with SO_PASSCRED, as systemd does, and
 * prints each datagram with the sender PID the kernel attached (what NotifyAccess=main checks).
 */
const RECEIVER = `
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1])
print("BOUND", flush=True)
while True:
    data, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(12))
    pid = -1
    for level, kind, body in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", body[:12])[0]
    print(json.dumps({"pid": pid, "text": data.decode()}), flush=True)
`;

interface Receiver {
  path: string;
  messages: string[];
  pids: number[];
  child: ChildProcess;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function startReceiver(): Promise<Receiver> {
  const dir = await mkdtemp(join(tmpdir(), 'rayleigh-notify-'));
  const path = join(dir, 'notify.sock');
  const child = spawn(PYTHON, ['-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: string[] = [];
  const pids: number[] = [];
  cleanups.push(async () => {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line === 'BOUND') resolve();
      else {
        const m = JSON.parse(line) as { pid: number; text: string };
        messages.push(m.text);
        pids.push(m.pid);
      }
    });
  });
  return { path, messages, pids, child };
}

describe('SystemdNotifier over a real notify socket', () => {
  it.skipIf(!haveTools)('delivers READY, STATUS, WATCHDOG and STOPPING in order', async () => {
    const rx = await startReceiver();
    const n = new SystemdNotifier({ env: { ...process.env, NOTIFY_SOCKET: rx.path } });
    expect(n.enabled).toBe(true);
    await n.ready('serving sim01');
    await n.watchdog();
    await n.status('line one\nline two');
    await n.stopping('stopping: SIGTERM');
    await expect.poll(() => rx.messages.length, { timeout: 5000 }).toBe(4);
    expect(rx.messages).toEqual([
      'READY=1\nSTATUS=serving sim01',
      'WATCHDOG=1',
      'STATUS=line one line two',
      'STOPPING=1\nSTATUS=stopping: SIGTERM',
    ]);
    // NotifyAccess=main accepts only datagrams whose sender is the main PID: ours, not a child's
    expect(rx.pids).toEqual([process.pid, process.pid, process.pid, process.pid]);
  });

  it.skipIf(!haveTools)('sends nothing when disabled by config even with NOTIFY_SOCKET set', async () => {
    const rx = await startReceiver();
    const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: rx.path }, enabled: false });
    expect(n.enabled).toBe(false);
    await n.ready();
    await n.watchdog();
    // a control message proves the socket works and that the two above never went out
    await new SystemdNotifier({ env: { ...process.env, NOTIFY_SOCKET: rx.path } }).status('control');
    await expect.poll(() => rx.messages.includes('STATUS=control'), { timeout: 5000 }).toBe(true);
    expect(rx.messages).toEqual(['STATUS=control']);
  });
});

describe('SystemdNotifier without systemd', () => {
  it('is disabled without NOTIFY_SOCKET', () => {
    expect(new SystemdNotifier({ env: {} }).enabled).toBe(false);
  });

  it('never rejects when the socket is missing or the addon is absent', async () => {
    const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: '/nonexistent.sock' } });
    await expect(n.ready('x')).resolves.toBeUndefined();
    await expect(n.watchdog()).resolves.toBeUndefined();
    const without = new SystemdNotifier({ env: { NOTIFY_SOCKET: '/nonexistent.sock' }, sender: null });
    await expect(without.ready('x')).resolves.toBeUndefined();
  });

  it('ignores abstract or relative NOTIFY_SOCKET values it cannot reach', () => {
    expect(notifySocketPath('@/org/freedesktop/systemd1/notify')).toBe('');
    expect(notifySocketPath('relative.sock')).toBe('');
    expect(notifySocketPath('/run/systemd/notify')).toBe('/run/systemd/notify');
  });
});

describe('helpers', () => {
  it('formats assignments and refuses keys that are not sd_notify names', () => {
    expect(formatAssignments({ READY: '1', STATUS: 'a\r\nb' })).toEqual(['READY=1', 'STATUS=a b']);
    expect(() => formatAssignments({ 'READY=1\nX': '1' })).toThrow(/invalid sd_notify key/);
  });

  it('pets at half of WATCHDOG_USEC, only for the named pid', () => {
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }, 10)).toBe(15_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '10' }, 10)).toBe(15_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '11' }, 10)).toBeNull();
    expect(watchdogIntervalMs({}, 10)).toBeNull();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: 'abc' }, 10)).toBeNull();
  });
});
