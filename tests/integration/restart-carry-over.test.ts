import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/net/free-port.ts';

const root = join(import.meta.dirname, '..', '..');

// A set_config that needs a restart and is not persisted must survive the restart it asks for
// (before: the in-process restart re-read the file and silently lost it).
describe('rayleigh run: a non-persisted set_config is kept across restart, reported lost at exit', () => {
  it('applies queueSize after the restart without writing the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-carry-'));
    const port = await freePort();
    const file = join(dir, 'config.yaml');
    const text = [
      'device: { id: carry }',
      `stateDir: ${JSON.stringify(join(dir, 'state'))}`,
      `mqtt: { embedded: { port: ${port} }, commands: { allowRestart: true } }`,
      'web: { enabled: false }',
      'camera: { type: sim, width: 32, height: 32 }',
      'inference: { model: rl, rl: { iterations: 5 } }',
      'hardware: { dmd: { type: none } }',
    ].join('\n');
    writeFileSync(file, text);
    const child = spawn(process.execPath, [join(root, 'bin', 'rayleigh.mjs'), 'run', '--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RAYLEIGH_LOG__LEVEL: 'warn' },
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    const sub = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, reconnectPeriod: 200, connectTimeout: 2000 });
    try {
      const answers = new Map<string, { status: string; data?: Record<string, unknown>; error?: string }>();
      let healths = 0;
      sub.on('message', (topic, payload) => {
        if (topic.endsWith('/health')) healths++;
        if (!topic.endsWith('/response')) return;
        const a = JSON.parse(payload.toString()) as { transaction?: string; status: string };
        if (a.transaction) answers.set(a.transaction, a as never);
      });
      sub.on('connect', () => sub.subscribe(['rayleigh/carry/cmd/+/response', 'rayleigh/carry/health'], { qos: 1 }));
      await expect.poll(() => healths, { timeout: 40_000, interval: 100 }).toBeGreaterThan(0);
      const ask = async (name: string, params: Record<string, unknown>, tx: string) => {
        sub.publish(`rayleigh/carry/cmd/${name}`, JSON.stringify({ ...params, transaction: tx }), { qos: 1 });
        await expect.poll(() => answers.has(tx), { timeout: 40_000, interval: 100 }).toBe(true);
        return answers.get(tx);
      };
      const set = await ask('set_config', { patch: { pipeline: { queueSize: 7 } } }, 'set');
      expect(set?.status, set?.error).toBe('ok');
      expect(set?.data?.restartRequired).toBe(true);
      // before the restart: still the old value running, the new one pending
      const before = await ask('get_config', {}, 'before');
      expect((before?.data?.running as { pipeline?: { queueSize?: number } } | undefined)?.pipeline?.queueSize).toBe(4);
      expect(before?.data?.pending).toEqual({ pipeline: { queueSize: 7 } });
      const restart = await ask('restart', {}, 'restart');
      expect(restart?.status, restart?.error).toBe('ok');
      healths = 0;
      await expect.poll(() => healths, { timeout: 40_000, interval: 100 }).toBeGreaterThan(0);
      const cfg = await ask('get_config', {}, 'after');
      // running after the restart, nothing pending any more
      expect((cfg?.data?.running as { pipeline?: { queueSize?: number } } | undefined)?.pipeline?.queueSize).toBe(7);
      expect(cfg?.data?.pending).toEqual({});
      expect(readFileSync(file, 'utf8')).toBe(text);
    } finally {
      sub.end(true);
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    expect(stderr).not.toMatch(/fatal/i);
    // a process exit (unlike the in-process restart) cannot keep them: it says so
    expect(stderr).toMatch(/not persisted are lost/);
    expect(stderr).toMatch(/pipeline\.queueSize/);
  });
});
