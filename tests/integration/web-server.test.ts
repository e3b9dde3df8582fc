import { request } from 'node:http';
import pngjs from 'pngjs';
import { afterEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.ts';
import { Metrics } from '../../src/health/metrics.ts';
import { isLoopbackHost } from '../../src/net/loopback.ts';
import { makeImage } from '../../src/optics/image.ts';
import type { FrameResult } from '../../src/pipeline/types.ts';
import { type CommandHandler, tokenMatches, WebServer, type WebServerOptions } from '../../src/web/server.ts';
import { resultFor } from '../helpers/results.ts';

const TOKEN = 'correct-horse-battery-staple';

/** A frame with two Gaussian spots and the matching 4× map with one bright pixel per spot. */
function syntheticFrame(seq: number) {
  const w = 24;
  const h = 16;
  const spots = [
    { x: 6.5 + (seq % 5), y: 5.5 },
    { x: 17.5, y: 10.5 },
  ];
  const input = makeImage(w, h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let v = 10;
      for (const s of spots) v += 1000 * Math.exp(-((x + 0.5 - s.x) ** 2 + (y + 0.5 - s.y) ** 2) / 2);
      input.data[y * w + x] = v;
    }
  const output = makeImage(w * 4, h * 4);
  for (const s of spots) output.data[Math.floor(s.y * 4) * w * 4 + Math.floor(s.x * 4)] = 0.5;
  return { input, output, spots };
}

/** The frame through the real pipeline and frame path, with its previews and 16-bit image. */
function syntheticResult(seq: number): Promise<FrameResult> {
  const { input, output } = syntheticFrame(seq);
  return resultFor(input, output, { seq });
}

const servers: WebServer[] = [];
const hubs: Metrics[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  for (const m of hubs.splice(0)) m.close();
});

async function serve(
  over: Partial<WebServerOptions> = {},
): Promise<{ server: WebServer; url: string; metrics: Metrics; calls: Array<[string, unknown]> }> {
  const metrics = new Metrics({ defaultMetrics: false, version: '0.0.1-test', deviceId: 'web01' });
  hubs.push(metrics);
  const calls: Array<[string, unknown]> = [];
  const commands: CommandHandler = async (name, args) => {
    calls.push([name, args]);
    if (args.fail === 'user') throw new UserError('stage is not homed');
    if (args.fail === 'crash') throw new Error('driver exploded');
    return { accepted: name };
  };
  const server = new WebServer({ host: '127.0.0.1', port: 0, health: metrics, commands, healthPushMs: 100, resultPushMs: 10, ...over });
  servers.push(server);
  const { url } = await server.start();
  return { server, url, metrics, calls };
}

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** node:http instead of fetch: tests need to forge Host and Origin headers. */
function raw(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const json = (r: RawResponse): Record<string, unknown> => JSON.parse(r.body.toString()) as Record<string, unknown>;

describe('WebServer configuration guards', () => {
  const base = { port: 0, health: new Metrics({ defaultMetrics: false }), commands: async () => undefined };
  afterEach(() => base.health.close());

  it('refuses a non-loopback host without a token', () => {
    expect(() => new WebServer({ ...base, host: '0.0.0.0' })).toThrow(UserError);
    expect(() => new WebServer({ ...base, host: '192.168.1.20' })).toThrow(/without web.token/);
    expect(() => new WebServer({ ...base, host: '0.0.0.0', token: 'short' })).toThrow(/at least 16/);
    expect(() => new WebServer({ ...base, host: '0.0.0.0', token: TOKEN })).not.toThrow();
    expect(() => new WebServer({ ...base, host: 'localhost' })).not.toThrow();
  });

  it('classifies hosts and compares tokens', () => {
    expect(['127.0.0.1', '127.8.9.1', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1'].every(isLoopbackHost)).toBe(true);
    expect(['0.0.0.0', '10.0.0.1', '::', 'example.org', '128.0.0.1'].some(isLoopbackHost)).toBe(false);
    expect(tokenMatches(TOKEN, TOKEN)).toBe(true);
    expect(tokenMatches(TOKEN, `${TOKEN}x`)).toBe(false);
    expect(tokenMatches(TOKEN, null)).toBe(false);
  });

  it('reports a port in use as a user error', async () => {
    const { url } = await serve();
    const port = Number(new URL(url).port);
    const second = new WebServer({ ...base, host: '127.0.0.1', port });
    await expect(second.start()).rejects.toThrow(/EADDRINUSE/);
  });
});

describe('WebServer routes', () => {
  it('serves the dashboard, metrics and health', async () => {
    const { url, metrics } = await serve();
    metrics.frameIn(5);
    metrics.observeResult(await syntheticResult(1));
    const page = await raw(`${url}/`);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.body.toString()).toContain('<canvas id="output"');
    expect((await raw(`${url}/app.js`)).body.toString()).toContain('EventSource');
    const prom = await raw(`${url}/metrics`);
    expect(prom.headers['content-type']).toMatch(/text\/plain/);
    expect(prom.body.toString()).toMatch(/^rayleigh_frames_in_total 5$/m);
    const health = json(await raw(`${url}/api/health`));
    expect(health.deviceId).toBe('web01');
    expect(health.model).toMatchObject({ id: 'damn-int8', hash: 'deadbeef', provider: 'cpu', tiles: 1 });
    expect((health.frames as { out: number }).out).toBe(1);
    expect((await raw(`${url}/nope`)).status).toBe(404);
    expect((await raw(`${url}/api/health`, { method: 'PUT' })).status).toBe(405);
  });

  it('serves the latest result as JSON and auto-scaled 8-bit PNGs', async () => {
    const { server, url } = await serve();
    expect((await raw(`${url}/api/latest`)).status).toBe(404);
    expect((await raw(`${url}/api/frame.png`)).status).toBe(404);
    server.publish(await syntheticResult(7));
    const meta = json(await raw(`${url}/api/latest`));
    expect(meta.seq).toBe(7);
    expect(meta.input).toEqual({ width: 24, height: 16 });
    expect(meta.output).toEqual({ width: 96, height: 64 });
    expect((meta.localizations as { count: number }).count).toBe(2);
    expect(meta).not.toHaveProperty('input.data');

    const frame = await raw(`${url}/api/frame.png`);
    expect(frame.headers['content-type']).toBe('image/png');
    expect(frame.headers['x-rayleigh-seq']).toBe('7');
    const png = pngjs.PNG.sync.read(frame.body);
    expect([png.width, png.height]).toEqual([24, 16]);
    let min = 255;
    let max = 0;
    for (let i = 0; i < png.data.length; i += 4) {
      min = Math.min(min, png.data[i]);
      max = Math.max(max, png.data[i]);
    }
    expect([min, max]).toEqual([0, 255]);
    // brightest pixel sits on the first spot's centre
    const src = syntheticFrame(7);
    let best = 0;
    for (let i = 1; i < src.input.data.length; i++) if (src.input.data[i] > src.input.data[best]) best = i;
    expect(png.data[best * 4]).toBe(255);

    const out = pngjs.PNG.sync.read((await raw(`${url}/api/output.png`)).body);
    expect([out.width, out.height]).toEqual([96, 64]);
    expect((await raw(`${url}/api/latest?stream=other`)).status).toBe(404);
    expect(json(await raw(`${url}/api/latest?stream=main`)).seq).toBe(7);
  });

  it('streams health and results as server-sent events', async () => {
    const { server, url } = await serve();
    const events: Array<{ event: string; data: Record<string, unknown> }> = [];
    const req = request(`${url}/api/events`);
    const done = new Promise<void>((resolve) => {
      req.on('response', (res) => {
        expect(res.headers['content-type']).toMatch(/text\/event-stream/);
        let buf = '';
        res.on('data', (c: Buffer) => {
          buf += c.toString();
          let i = buf.indexOf('\n\n');
          while (i >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const ev = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (ev && data) events.push({ event: ev, data: JSON.parse(data) as Record<string, unknown> });
            i = buf.indexOf('\n\n');
          }
        });
        res.on('close', () => resolve());
      });
    });
    req.end();
    await expect.poll(() => events.some((e) => e.event === 'health')).toBe(true);
    server.publish(await syntheticResult(1));
    server.publish(await syntheticResult(2));
    server.publish(await syntheticResult(3));
    await expect.poll(() => events.filter((e) => e.event === 'result').at(-1)?.data.seq).toBe(3);
    // health keeps coming on its own timer
    const healthCount = events.filter((e) => e.event === 'health').length;
    await expect.poll(() => events.filter((e) => e.event === 'health').length).toBeGreaterThan(healthCount);
    req.destroy();
    await server.close();
    await done;
  });
});

describe('WebServer commands', () => {
  const post = (url: string, name: string, body = '{}', headers: Record<string, string> = {}) =>
    raw(`${url}/api/cmd/${name}`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body });

  it('passes the safe commands to the handler', async () => {
    const { url, calls } = await serve();
    for (const name of ['capture', 'selftest', 'start', 'stop']) {
      const r = await post(url, name, '{"frames":2}');
      expect(r.status).toBe(200);
      expect(json(r)).toEqual({ status: 'ok', data: { accepted: name } });
    }
    expect(calls).toEqual([
      ['capture', { frames: 2 }],
      ['selftest', { frames: 2 }],
      ['start', { frames: 2 }],
      ['stop', { frames: 2 }],
    ]);
    expect((await post(url, 'capture', '')).status).toBe(200);
  });

  it('refuses other commands and malformed or cross-site requests', async () => {
    const { url, calls } = await serve();
    expect((await post(url, 'reboot')).status).toBe(404);
    expect((await post(url, 'config')).status).toBe(404);
    expect((await post(url, 'capture', '{nope')).status).toBe(400);
    expect((await post(url, 'capture', '[1]')).status).toBe(400);
    expect((await raw(`${url}/api/cmd/stop`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: '{}' })).status).toBe(415);
    expect((await post(url, 'stop', '{}', { Origin: 'http://evil.example' })).status).toBe(403);
    // sandboxed iframes and file:// pages send "Origin: null"; that is a foreign origin too
    expect((await post(url, 'stop', '{}', { Origin: 'null' })).status).toBe(403);
    expect((await post(url, 'x'.repeat(10), 'a'.repeat(70_000))).status).toBe(404);
    expect((await post(url, 'capture', `{"pad":"${'a'.repeat(70_000)}"}`)).status).toBe(413);
    expect(calls).toEqual([]);
    const sameOrigin = await post(url, 'stop', '{}', { Origin: url });
    expect(sameOrigin.status).toBe(200);
  });

  it('maps handler failures to 400 (user) and 500 (internal) without crashing', async () => {
    const { url } = await serve();
    const user = await post(url, 'start', '{"fail":"user"}');
    expect(user.status).toBe(400);
    expect(json(user)).toEqual({ status: 'error', error: 'stage is not homed' });
    const crash = await post(url, 'start', '{"fail":"crash"}');
    expect(crash.status).toBe(500);
    expect(json(crash).error).toBe('driver exploded');
    expect((await raw(`${url}/api/health`)).status).toBe(200);
  });
});

describe('WebServer authentication', () => {
  it('requires the token, from the Authorization header only, when one is configured', async () => {
    const { url } = await serve({ token: TOKEN });
    expect((await raw(`${url}/api/health`)).status).toBe(401);
    expect((await raw(`${url}/metrics`)).status).toBe(401);
    expect((await raw(`${url}/api/frame.png`)).status).toBe(401);
    expect((await raw(`${url}/api/cmd/stop`, { method: 'POST', headers: { 'Content-Type': 'application/json' } })).status).toBe(401);
    // the page shell carries no data; its script adds the token to every API call
    expect((await raw(`${url}/`)).status).toBe(200);
    expect((await raw(`${url}/app.js`)).status).toBe(200);
    expect((await raw(`${url}/metrics`, { headers: { Authorization: 'Bearer wrong-token-wrong-token' } })).status).toBe(401);
    expect((await raw(`${url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    // never from the query string (it leaks into logs, history and Referer)
    expect((await raw(`${url}/api/health?token=${TOKEN}`)).status).toBe(401);
    expect((await raw(`${url}/api/events?token=${TOKEN}`)).status).toBe(401);
    // control actions need it too
    const cmd = (headers: Record<string, string>) =>
      raw(`${url}/api/cmd/stop`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: '{}' });
    expect((await cmd({})).status).toBe(401);
    expect((await cmd({ Authorization: 'Bearer wrong-token-wrong-token' })).status).toBe(401);
    expect((await cmd({ Authorization: `Bearer ${TOKEN}` })).status).toBe(200);
  });

  it('without a token, rejects requests whose Host is not loopback (DNS rebinding)', async () => {
    const { url } = await serve();
    expect((await raw(`${url}/api/health`, { headers: { Host: 'attacker.example:8380' } })).status).toBe(401);
    expect((await raw(`${url}/api/health`, { headers: { Host: `localhost:${new URL(url).port}` } })).status).toBe(200);
  });
});
