import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { readConfigFile, resolveSettings } from '../../src/config/load.ts';
import type { Settings } from '../../src/config/schema.ts';
import { type Daemon, startDaemon } from '../../src/controller.ts';
import { silentLogger } from '../../src/log.ts';

describe('set_config on a running daemon', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rayleigh-setcfg-'));
  const file = join(dir, 'config.yaml');
  let daemon: Daemon | undefined;
  afterAll(async () => {
    await daemon?.stop();
    delete process.env.RAYLEIGH_MQTT__PASSWORD;
  });

  it('applies live keys, reports the rest as needing a restart, and persists without env secrets', async () => {
    writeFileSync(
      file,
      [
        `stateDir: ${JSON.stringify(join(dir, 'state'))}`,
        'mqtt: { embedded: { port: 0 } }',
        'web: { enabled: false }',
        'inference: { model: rl, rl: { iterations: 5 } }',
        'pipeline: { autostart: false }',
        'hardware: { dmd: { type: none } }',
      ].join('\n'),
    );
    process.env.RAYLEIGH_MQTT__PASSWORD = 'from-the-environment';
    const written = readConfigFile(file) as Record<string, unknown>;
    daemon = await startDaemon(resolveSettings(written), { log: silentLogger, configFile: file, writtenSettings: written });

    type Report = { running: Settings; pending: Record<string, unknown>; pendingKeys: string[]; liveKeys: string[] };
    const config = async () => (await daemon?.api.getConfig()) as Report;
    expect((await config()).liveKeys).toEqual(expect.arrayContaining(['pipeline.postprocess', 'inference.model']));

    const live = await daemon.api.setConfig({ patch: { pipeline: { postprocess: { threshold: 0.3 } } }, persist: false });
    expect(live.restartRequired).toBe(false);
    expect(live.applied).toEqual(['pipeline.postprocess']);
    expect(daemon.pipeline.postprocessOptions.threshold).toBe(0.3);
    expect((await config()).running.pipeline.postprocess.threshold).toBe(0.3);
    expect((await config()).pending).toEqual({});

    const later = await daemon.api.setConfig({ patch: { pipeline: { queueSize: 7 }, health: { interval: 3 } }, persist: true });
    expect(later.restartRequired).toBe(true);
    expect(later.applied).toEqual([]);
    expect(later.pendingRestart).toEqual(expect.arrayContaining(['pipeline.queueSize', 'health.interval']));
    // get_config: what runs, and separately what waits for the restart (before: reported as running)
    const report = await config();
    expect(report.running.pipeline.queueSize).toBe(4);
    expect(report.running.health.interval).not.toBe(3);
    expect(report.pending).toEqual({ pipeline: { queueSize: 7 }, health: { interval: 3 } });
    expect(report.pendingKeys.sort()).toEqual(['health.interval', 'pipeline.queueSize']);
    expect(daemon.running.pipeline.queueSize).toBe(4);
    expect(daemon.settings.pipeline.queueSize).toBe(7);
    // secrets stay masked on both sides
    expect(JSON.stringify(report)).not.toContain('from-the-environment');

    // a live change after a pending one: applied at once, the pending one still pending
    const both = await daemon.api.setConfig({ patch: { pipeline: { postprocess: { minDistance: 3 } } }, persist: false });
    expect(both.applied).toEqual(['pipeline.postprocess']);
    expect(both.restartRequired).toBe(true);
    expect((await config()).running.pipeline.postprocess.minDistance).toBe(3);
    expect((await config()).pendingKeys.sort()).toEqual(['health.interval', 'pipeline.queueSize']);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('from-the-environment');
    const doc = parseYaml(text) as { pipeline: { queueSize: number; postprocess: { threshold: number } } };
    expect(doc.pipeline.queueSize).toBe(7);
    expect(doc.pipeline.postprocess.threshold).toBe(0.3);

    await expect(daemon.api.setConfig({ patch: { pipeline: { queueSize: 0 } }, persist: true })).rejects.toThrow(/pipeline\.queueSize/);
    expect((parseYaml(readFileSync(file, 'utf8')) as { pipeline: { queueSize: number } }).pipeline.queueSize).toBe(7);
  });
});
