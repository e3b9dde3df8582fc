import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import pngjs from 'pngjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/health/metrics.ts';
import { makeImage } from '../../src/optics/image.ts';
import type { FrameResult } from '../../src/pipeline/types.ts';
import { type SafeCommand, WebServer } from '../../src/web/server.ts';
import { resultFor } from '../helpers/results.ts';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`skipping dashboard browser test: ${CHROMIUM} not installed (apt-get install -y chromium)`);

/** Spots drift with seq so consecutive frames differ visibly. */
function syntheticFrame(seq: number) {
  const w = 40;
  const h = 30;
  const spots = [
    { x: 8.5 + (seq % 7), y: 8.5 },
    { x: 28.5, y: 12.5 + (seq % 5) },
    { x: 20.5, y: 22.5 },
  ];
  const input = makeImage(w, h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let v = 20;
      for (const s of spots) v += 800 * Math.exp(-((x + 0.5 - s.x) ** 2 + (y + 0.5 - s.y) ** 2) / 3);
      input.data[y * w + x] = v;
    }
  const output = makeImage(w * 4, h * 4);
  for (const s of spots) {
    const cx = Math.floor(s.x * 4);
    const cy = Math.floor(s.y * 4);
    // one peaked blob per spot, so the frame path finds one localisation each
    for (let dy = -1; dy <= 1; dy++)
      for (let dx = -1; dx <= 1; dx++) output.data[(cy + dy) * w * 4 + cx + dx] = dx === 0 && dy === 0 ? 0.03 : 0.01;
  }
  return { input, output, spots };
}

/** The frame through the real pipeline and frame path, with its previews and 16-bit image. */
function syntheticResult(seq: number, accumulate = false): Promise<FrameResult> {
  const { input, output } = syntheticFrame(seq);
  return resultFor(
    input,
    output,
    accumulate
      ? {
          seq,
          products: {
            accumulate: { enabled: true, frames: 10, seconds: 60, everyMs: 0, binsPerPixel: 4, maxEdge: 256, maxBytes: 1 << 20 },
          },
        }
      : { seq },
  );
}

let browser: BrowserContext | null = null;
let profile = '';

beforeAll(async () => {
  if (!haveChromium) return;
  profile = await mkdtemp(join(tmpdir(), 'rayleigh-chromium-'));
  // a persistent context is how playwright takes a fresh, explicit user-data-dir
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    viewport: { width: 1200, height: 1000 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
});

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function liveServer(token?: string, accumulate = false) {
  const metrics = new Metrics({ version: '0.0.1-test', deviceId: 'dash01', streaming: () => true });
  const commands: SafeCommand[] = [];
  const server = new WebServer({
    host: '127.0.0.1',
    port: 0,
    token,
    health: metrics,
    commands: async (name) => {
      commands.push(name);
      return name === 'capture' ? { seq: 99 } : undefined;
    },
    healthPushMs: 250,
    resultPushMs: 50,
  });
  const { url } = await server.start();
  let seq = 0;
  const push = async () => {
    seq++;
    const r = await syntheticResult(seq, accumulate);
    metrics.frameIn();
    metrics.observeResult(r);
    server.publish(r);
  };
  await push();
  const timer = setInterval(() => void push(), 300);
  cleanups.push(async () => {
    clearInterval(timer);
    await server.close();
    metrics.close();
  });
  return { url, commands };
}

/** Distinct gray levels in a canvas, read back in the page. */
const CANVAS_LEVELS = (id: string) => {
  const c = document.getElementById(id) as HTMLCanvasElement;
  const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
  const levels = new Set<number>();
  for (let i = 0; i < d.length; i += 4) levels.add(d[i] * 65536 + d[i + 1] * 256 + d[i + 2]);
  return { width: c.width, height: c.height, levels: levels.size };
};

describe('dashboard in headless Chromium', () => {
  it.skipIf(!haveChromium)('renders frame and output with overlays, updates live, charts health, runs commands', async () => {
    const { url, commands } = await liveServer();
    const page = await browser!.newPage();
    cleanups.push(() => page.close());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${url}/`);

    await expect.poll(() => page.textContent('#seq'), { timeout: 15_000 }).toMatch(/^\d+$/);
    const first = Number(await page.textContent('#seq'));
    await expect.poll(async () => Number(await page.textContent('#seq')), { timeout: 15_000 }).toBeGreaterThan(first);

    const frame = await page.evaluate(CANVAS_LEVELS, 'frame');
    const output = await page.evaluate(CANVAS_LEVELS, 'output');
    // 40×30 and 160×120 images fitted into 384 px
    expect(frame.width / frame.height).toBeCloseTo(40 / 30, 1);
    expect(output.width / output.height).toBeCloseTo(160 / 120, 1);
    expect(frame.levels).toBeGreaterThan(10);
    expect(output.levels).toBeGreaterThan(2);

    // the pixels really reach the screen, not just the canvas buffer
    const shot = pngjs.PNG.sync.read(await page.locator('#output').screenshot());
    const seen = new Set<number>();
    for (let i = 0; i < shot.data.length; i += 4) seen.add(shot.data[i] * 65536 + shot.data[i + 1] * 256 + shot.data[i + 2]);
    expect(seen.size).toBeGreaterThan(2);
    // localisation overlay is drawn in red
    let red = 0;
    for (let i = 0; i < shot.data.length; i += 4) if (shot.data[i] > 200 && shot.data[i + 1] < 120 && shot.data[i + 2] < 120) red++;
    expect(red).toBeGreaterThan(10);

    await expect.poll(() => page.locator('#stages tbody tr').count(), { timeout: 10_000 }).toBe(6);
    await expect.poll(() => page.textContent('#model')).toContain('damn-int8');
    expect(await page.textContent('#nloc')).toBe('3');
    expect(await page.getAttribute('#conn', 'data-state')).toBe('ok');

    await page.click('button[data-cmd="capture"]');
    await expect.poll(() => page.textContent('#cmd-result')).toBe('capture: ok {"seq":99}');
    await page.click('button[data-cmd="stop"]');
    await expect.poll(() => commands).toEqual(['capture', 'stop']);
    expect(errors).toEqual([]);
  });

  it.skipIf(!haveChromium)('shows the accumulated render and asks for one with its button', async () => {
    const { url, commands } = await liveServer(undefined, true);
    const page = await browser!.newPage();
    cleanups.push(() => page.close());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${url}/`);
    // each synthetic frame renders its own three localisations (schedule every frame)
    await expect
      .poll(() => page.textContent('#acc-info'), { timeout: 15_000 })
      .toMatch(/^3 localisations of 1 frame · 40×30 at 0,0 · schedule/);
    const acc = await page.evaluate(CANVAS_LEVELS, 'accumulated');
    expect(acc.width / acc.height).toBeCloseTo(40 / 30, 1);
    expect(acc.levels).toBeGreaterThan(1);
    await page.click('button[data-cmd="render_accumulated"]');
    await expect.poll(() => commands).toEqual(['render_accumulated']);
    expect(errors).toEqual([]);
  });

  it.skipIf(!haveChromium)('works behind a token passed in the page URL fragment', async () => {
    const token = 'dashboard-token-0123456789';
    const { url, commands } = await liveServer(token);
    const page = await browser!.newPage();
    cleanups.push(() => page.close());
    await page.goto(`${url}/`);
    await expect.poll(() => page.textContent('#conn')).toMatch(/token required/);
    expect(await page.textContent('#seq')).toBe('—');
    // the token is given in the fragment and then sent only as a header, never in a URL
    const urls: string[] = [];
    page.on('request', (r) => urls.push(r.url()));
    await page.goto(`${url}/#token=${token}`);
    await expect.poll(() => page.textContent('#seq'), { timeout: 15_000 }).toMatch(/^\d+$/);
    expect(urls.length).toBeGreaterThan(2);
    // (a fragment is never part of an HTTP request)
    expect(urls.map((u) => u.split('#')[0]).filter((u) => u.includes(token))).toEqual([]);
    expect((await page.evaluate(CANVAS_LEVELS, 'frame')).levels).toBeGreaterThan(10);
    await page.click('button[data-cmd="selftest"]');
    await expect.poll(() => commands).toEqual(['selftest']);
  });
});
