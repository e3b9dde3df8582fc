import { describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.ts';
import { Metrics } from '../../../src/health/metrics.ts';
import { silentLogger } from '../../../src/log.ts';
import { startDashboard } from '../../../src/web/server.ts';

describe('startDashboard', () => {
  it('serves the health it is given, and is skipped (null) when its port is taken', async () => {
    const metrics = new Metrics({ deviceId: 'dash01' });
    const commands = async () => undefined;
    const first = await startDashboard({ host: '127.0.0.1', port: 0, health: metrics, commands, log: silentLogger });
    try {
      expect(first?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const api = (await (await fetch(`${first?.url}/api/health`)).json()) as { deviceId: string };
      expect(api.deviceId).toBe('dash01');
      const port = Number(new URL(first?.url ?? '').port);
      const second = await startDashboard({ host: '127.0.0.1', port, health: metrics, commands, log: silentLogger });
      expect(second).toBeNull();
    } finally {
      await first?.close();
      metrics.close();
    }
  });

  it('refuses a non-loopback host without a token', async () => {
    const metrics = new Metrics({ deviceId: 'dash02' });
    try {
      await expect(startDashboard({ host: '0.0.0.0', port: 0, health: metrics, commands: async () => undefined })).rejects.toThrow(
        UserError,
      );
    } finally {
      metrics.close();
    }
  });
});
