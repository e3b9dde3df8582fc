import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const LEFT_OPEN = /handles still open/;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  stdout: string;
}

/** `rayleigh run --config FILE`; a start that hangs is killed after 40 s (the test then fails). */
function runDaemon(
  config: string,
  onStarted?: (stop: () => void) => void,
  onBroker?: (signal: (s: NodeJS.Signals) => void) => void,
  logLevel = 'error',
): Promise<Exit> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'bin', 'rayleigh.mjs'), 'run', '--config', config], {
      // its own process group, so that a signal to "the group" can end only the daemon: a failed
      // start once sent kill(0, SIGTERM) by stopping a child whose spawn had failed (src/signal-child.ts)
      detached: true,
      cwd: tmpdir(), // defaults must not depend on the current directory
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RAYLEIGH_LOG__LEVEL: logLevel },
    });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
      const url = /publishing to (mqtt:\/\/[^\s]+)/.exec(stdout)?.[1];
      if (onBroker && url) {
        const cb = onBroker;
        onBroker = undefined;
        cb((s) => child.kill(s));
      }
      if (onStarted && url) {
        const cb = onStarted;
        onStarted = undefined;
        // fully up once the first retained health report is out (the daemon's ready step sends it)
        const sub = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 200 });
        sub.on('message', () => {
          sub.end(true);
          cb(() => child.kill('SIGTERM'));
        });
        sub.on('connect', () => sub.subscribe('rayleigh/+/health'));
      }
    });
    const guard = setTimeout(() => child.kill('SIGKILL'), 40_000);
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stderr, stdout });
    });
  });
}

function config(dir: string, lines: string[]): string {
  const file = join(dir, 'config.yaml');
  writeFileSync(
    file,
    [
      `stateDir: ${JSON.stringify(join(dir, 'state'))}`,
      'mqtt: { embedded: { port: 0 } }',
      'camera: { type: sim, width: 32, height: 32 }',
      ...lines,
    ].join('\n'),
  );
  return file;
}

describe('a daemon that cannot start exits non-zero with its error, leaving nothing running', () => {
  it('missing dark frame (after the model worker, the devices and the broker are up)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-start-'));
    const r = await runDaemon(
      config(dir, [
        'inference: { model: rl }',
        'web: { port: 0 }',
        `pipeline: { preprocess: { dark: ${JSON.stringify(join(dir, 'nope.npy'))} } }`,
      ]),
    );
    expect(r.signal, 'the daemon hung and was killed').toBeNull();
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/pipeline\.preprocess/);
    expect(r.stderr).not.toMatch(LEFT_OPEN);
  });

  it('SIGTERM while starting (broker up, devices and model on their way) closes what started and exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-start-'));
    const r = await runDaemon(
      config(dir, ['inference: { model: damn }', 'web: { port: 0 }']),
      undefined,
      (signal) => signal('SIGTERM'),
      'info',
    );
    expect(r.signal, 'killed by the signal instead of stopping').toBeNull();
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/stopped while starting/);
    expect(r.stderr).toMatch(/"step":"daemon".*shutdown step done/);
    expect(r.stderr).not.toMatch(LEFT_OPEN);
  });

  it('refused web host (dashboard on 0.0.0.0 without a token)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-start-'));
    const r = await runDaemon(config(dir, ['inference: { model: rl }', 'web: { host: 0.0.0.0, port: 0 }']));
    expect(r.signal, 'the daemon hung and was killed').toBeNull();
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/web\.token/);
    expect(r.stderr).not.toMatch(LEFT_OPEN);
  });

  it('a configured model failing its hash is an error, unless inference.fallback: rl', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-start-'));
    const models = join(dir, 'models');
    mkdirSync(models);
    const manifest = JSON.parse(readFileSync(join(root, 'models-int8', 'manifest.json'), 'utf8')) as {
      models: Array<{ id: string; file: string }>;
    };
    for (const e of manifest.models) copyFileSync(join(root, 'models-int8', e.file), join(models, e.file));
    copyFileSync(join(root, 'models-int8', 'manifest.json'), join(models, 'manifest.json'));
    const damn = manifest.models.find((e) => e.id === 'damn');
    if (!damn) throw new Error('no "damn" model shipped');
    const bytes = readFileSync(join(models, damn.file));
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(join(models, damn.file), bytes);

    const strict = await runDaemon(
      config(dir, [`inference: { model: damn, modelsDir: ${JSON.stringify(models)} }`, 'web: { enabled: false }']),
    );
    expect(strict.signal, 'the daemon hung and was killed').toBeNull();
    expect(strict.code).not.toBe(0);
    expect(strict.stderr).toMatch(/inference\.model "damn" cannot be loaded: .*sha256/);
    expect(strict.stderr).toMatch(/fallback: rl/);
    expect(strict.stderr).not.toMatch(LEFT_OPEN);

    const dir2 = mkdtempSync(join(tmpdir(), 'rayleigh-start-'));
    const lenient = await runDaemon(
      config(dir2, [`inference: { model: damn, fallback: rl, modelsDir: ${JSON.stringify(models)} }`, 'web: { enabled: false }']),
      (stop) => stop(),
    );
    expect(lenient.code, lenient.stderr).toBe(0);
  });

  it('the default models directory is the installation one, whatever the current directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rayleigh-start-'));
    // started from tmpdir() with the shipped INT8 model and no modelsDir: it must find models-int8/
    const r = await runDaemon(config(dir, ['inference: { model: damn }', 'web: { enabled: false }']), (stop) => stop());
    expect(r.code, r.stderr).toBe(0);
  });
});
