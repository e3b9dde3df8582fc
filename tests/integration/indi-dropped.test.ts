import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveSettings } from '../../src/config/load.ts';
import { type Daemon, startDaemon } from '../../src/controller.ts';
import { silentLogger } from '../../src/log.ts';
import { blobMessage, defineCcd, FakeIndiServer, fits16, until } from '../unit/camera/indi-fake-server.ts';

describe('INDI images dropped by the camera source reach health', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rayleigh-indi-dropped-'));
  const srv = new FakeIndiServer();
  let daemon: Daemon | undefined;
  afterAll(async () => {
    await daemon?.stop();
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a burst faster than the source decodes: camera.dropped in the health payload, and with frames.in every image is accounted for', async () => {
    srv.onClient = (s) => s.write(defineCcd());
    const port = await srv.listen();
    daemon = await startDaemon(
      resolveSettings({
        stateDir: join(dir, 'state'),
        mqtt: { embedded: { port: 0 } },
        web: { enabled: false },
        health: { interval: 0.1 },
        camera: { type: 'indi', port, queue: 2 },
        inference: { model: 'rl', rl: { iterations: 2 } },
        hardware: { dmd: { type: 'none' } },
      }),
      { log: silentLogger },
    );
    const d = daemon;
    await until(() => srv.sent('enableBLOB').length > 0, 10_000, 'enableBLOB');
    const n = 8;
    let burst = '';
    for (let i = 0; i < n; i++) burst += blobMessage(fits16(8, 8, () => 100 + i));
    // one write: the source parses every BLOB before it decodes one, so its queue of 2 overflows
    srv.write(burst);
    const snap = () => d.metrics.snapshot();
    await until(() => snap().frames.in + (snap().camera.dropped ?? 0) === n, 10_000, 'every image counted in or dropped');
    const s = snap();
    expect(s.camera.dropped).toBeGreaterThan(0);
    expect(s.frames.in).toBeGreaterThan(0);
    expect(await d.metrics.prometheusText()).toMatch(new RegExp(`^rayleigh_camera_dropped_total ${s.camera.dropped}$`, 'm'));
  });
});
