import { createHash, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.ts';
import type { HealthPayload } from '../health/metrics.ts';
import type { Logger } from '../log.ts';
import { type ResultMeta, toAccumulatedMeta, toResultMeta } from '../mqtt/payloads.ts';
import { isLoopbackHost } from '../net/loopback.ts';
import type { FrameResult, ResultSink } from '../pipeline/types.ts';

/** Commands the dashboard may trigger; anything that reconfigures the device stays MQTT-only. */
export const SAFE_COMMANDS = ['capture', 'selftest', 'start', 'stop', 'render_accumulated'] as const;
export type SafeCommand = (typeof SAFE_COMMANDS)[number];

/** Runs a dashboard command; resolves the response `data`. Throw UserError for a bad request. */
export type CommandHandler = (name: SafeCommand, args: Record<string, unknown>) => Promise<unknown>;

export interface HealthSource {
  snapshot(): HealthPayload;
  prometheusText(): Promise<string>;
  readonly contentType: string;
}

export interface WebServerOptions {
  host: string;
  /** 0 = any free port */
  port: number;
  /** required unless host is loopback; checked on every request when set */
  token?: string;
  health: HealthSource;
  commands: CommandHandler;
  log?: Logger;
  /** SSE health cadence; default 2000 ms */
  healthPushMs?: number;
  /** minimum gap between SSE result events, so 30 fps does not flood a browser; default 100 ms */
  resultPushMs?: number;
  /** directory with index.html, app.js, style.css; default: next to this module or src/web/static */
  staticDir?: string;
}

/**
 * What the dashboard gets per frame: the result meta's one wire format (mqtt/payloads.ts) plus,
 * for simulated and DMD frames, the ground truth to draw beside the localisations.
 */
export type DashboardResult = ResultMeta & { truth?: Array<{ x: number; y: number; photons: number }> };

export function dashboardResult(r: FrameResult): DashboardResult {
  const meta: DashboardResult = toResultMeta(r);
  if (r.truth) meta.truth = r.truth.map((t) => ({ x: t.x, y: t.y, photons: t.photons }));
  return meta;
}

/** Compares digests so neither the length nor the content of the token leaks through timing. */
export function tokenMatches(expected: string, given: string | null | undefined): boolean {
  if (given === null || given === undefined) return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

const STATIC_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

function defaultStaticDir(): string {
  // tsc does not copy assets, so a built dist/web falls back to the shipped sources
  const candidates = [new URL('./static/', import.meta.url), new URL('../../src/web/static/', import.meta.url)];
  for (const c of candidates) {
    const p = fileURLToPath(c);
    if (existsSync(`${p}index.html`)) return p;
  }
  return fileURLToPath(candidates[0]);
}

const MAX_BODY = 64 * 1024;

interface SseClient {
  res: ServerResponse;
}

/**
 * The optional local dashboard and scrape endpoint. A plain node:http server: it only needs
 * a handful of routes and must not pull a framework onto the board. It is a ResultSink; the
 * lead registers it beside the MQTT publisher and it keeps the latest result per stream.
 */
export class WebServer implements ResultSink {
  private server: Server | null = null;
  private readonly opts: WebServerOptions;
  private readonly staticFiles = new Map<string, Buffer>();
  private readonly latestByStream = new Map<string, FrameResult>();
  private latestResult: FrameResult | null = null;
  /** the latest accumulated render with a dashboard preview, per stream */
  private readonly accumulatedByStream = new Map<string, FrameResult>();
  private latestAccumulated: FrameResult | null = null;
  private readonly clients = new Set<SseClient>();
  private healthTimer: NodeJS.Timeout | null = null;
  private resultTimer: NodeJS.Timeout | null = null;
  private lastResultPush = 0;
  private boundUrl: string | null = null;

  constructor(opts: WebServerOptions) {
    if (!isLoopbackHost(opts.host) && !opts.token) {
      throw new UserError(`refusing to serve the dashboard on non-loopback host ${opts.host} without web.token (set RAYLEIGH_WEB__TOKEN)`);
    }
    if (opts.token !== undefined && opts.token.length < 16) {
      throw new UserError('web.token must be at least 16 characters');
    }
    this.opts = opts;
  }

  get url(): string | null {
    return this.boundUrl;
  }

  async start(): Promise<{ url: string; host: string; port: number }> {
    const dir = this.opts.staticDir ?? defaultStaticDir();
    for (const { file } of Object.values(STATIC_FILES)) {
      try {
        this.staticFiles.set(file, readFileSync(`${dir.replace(/\/?$/, '/')}${file}`));
      } catch {
        throw new Error(`dashboard asset ${file} not found in ${dir}`);
      }
    }
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.opts.log?.warn({ err }, 'web request failed');
        if (!res.headersSent) sendJson(res, 500, { status: 'error', error: 'internal error' });
        else res.destroy();
      });
    });
    server.on('clientError', (_err, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(
          err.code === 'EADDRINUSE' || err.code === 'EACCES' || err.code === 'EADDRNOTAVAIL'
            ? new UserError(`web dashboard cannot listen on ${this.opts.host}:${this.opts.port}: ${err.code}`)
            : err,
        );
      });
      server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    server.on('error', (err) => this.opts.log?.error({ err }, 'web server error'));
    this.server = server;
    const addr = server.address() as AddressInfo;
    const hostForUrl = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    this.boundUrl = `http://${hostForUrl}:${addr.port}`;
    this.healthTimer = setInterval(() => this.pushHealth(), this.opts.healthPushMs ?? 2000);
    this.healthTimer.unref();
    return { url: this.boundUrl, host: addr.address, port: addr.port };
  }

  /**
   * Keeps results that carry previews (the pipeline makes them at the dashboard's rate, in the
   * engine's worker): marks and pictures of one frame stay together.
   */
  publish(result: FrameResult): void {
    if (result.accumulated?.preview) {
      this.latestAccumulated = result;
      if (this.accumulatedByStream.size < 32 || this.accumulatedByStream.has(result.stream))
        this.accumulatedByStream.set(result.stream, result);
      this.broadcast('accumulated', toAccumulatedMeta(result));
    }
    if (!result.previews) return;
    this.latestResult = result;
    if (this.latestByStream.size < 32 || this.latestByStream.has(result.stream)) {
      this.latestByStream.set(result.stream, result);
    }
    if (this.clients.size === 0 || this.resultTimer) return;
    const gap = this.opts.resultPushMs ?? 100;
    const wait = Math.max(0, this.lastResultPush + gap - Date.now());
    this.resultTimer = setTimeout(() => {
      this.resultTimer = null;
      this.lastResultPush = Date.now();
      if (this.latestResult) this.broadcast('result', dashboardResult(this.latestResult));
    }, wait);
    this.resultTimer.unref();
  }

  async close(): Promise<void> {
    if (this.healthTimer) clearInterval(this.healthTimer);
    if (this.resultTimer) clearTimeout(this.resultTimer);
    this.healthTimer = null;
    this.resultTimer = null;
    for (const c of this.clients) c.res.end();
    this.clients.clear();
    const server = this.server;
    this.server = null;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cache-Control', 'no-store');
    const url = new URL(req.url ?? '/', 'http://localhost');

    const path = url.pathname;
    // the page shell holds no data and must load before its script can send the token header
    const publicAsset = (req.method === 'GET' || req.method === 'HEAD') && STATIC_FILES[path] !== undefined;
    if (!this.authorised(req, url, publicAsset)) {
      sendJson(res, 401, { status: 'error', error: 'missing or wrong token' }, { 'WWW-Authenticate': 'Bearer' });
      return;
    }

    if (req.method === 'POST' && path.startsWith('/api/cmd/')) {
      await this.handleCommand(req, res, decodeURIComponent(path.slice('/api/cmd/'.length)));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { status: 'error', error: `${req.method} not allowed on ${path}` }, { Allow: 'GET, HEAD' });
      return;
    }

    const asset = STATIC_FILES[path];
    if (asset) {
      res.setHeader(
        'Content-Security-Policy',
        "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
      );
      send(res, 200, asset.type, this.staticFiles.get(asset.file) ?? Buffer.alloc(0));
      return;
    }

    switch (path) {
      case '/metrics':
        send(res, 200, this.opts.health.contentType, Buffer.from(await this.opts.health.prometheusText()));
        return;
      case '/api/health':
        sendJson(res, 200, this.opts.health.snapshot());
        return;
      case '/api/latest': {
        const r = this.pick(url);
        if (!r) sendJson(res, 404, { status: 'error', error: 'no result yet' });
        else sendJson(res, 200, dashboardResult(r));
        return;
      }
      case '/api/frame.png':
      case '/api/output.png': {
        const r = this.pick(url);
        if (!r) {
          sendJson(res, 404, { status: 'error', error: 'no result yet' });
          return;
        }
        const previews = r.previews as NonNullable<FrameResult['previews']>;
        const png = Buffer.from(path === '/api/frame.png' ? previews.frame : previews.output);
        send(res, 200, 'image/png', png, { 'X-Rayleigh-Seq': String(r.seq) });
        return;
      }
      case '/api/accumulated':
      case '/api/accumulated.png': {
        const stream = url.searchParams.get('stream');
        const r = stream === null ? this.latestAccumulated : this.accumulatedByStream.get(stream);
        const a = r?.accumulated;
        if (!r || !a?.preview) sendJson(res, 404, { status: 'error', error: 'no accumulated render yet' });
        else if (path === '/api/accumulated') sendJson(res, 200, toAccumulatedMeta(r));
        else send(res, 200, 'image/png', Buffer.from(a.preview), { 'X-Rayleigh-Seq': String(r.seq) });
        return;
      }
      case '/api/events':
        this.openEvents(req, res);
        return;
      default:
        sendJson(res, 404, { status: 'error', error: `no route ${path}` });
    }
  }

  private pick(url: URL): FrameResult | null {
    const stream = url.searchParams.get('stream');
    return stream === null ? this.latestResult : (this.latestByStream.get(stream) ?? null);
  }

  private authorised(req: IncomingMessage, url: URL, publicAsset: boolean): boolean {
    const token = this.opts.token;
    if (token) {
      if (publicAsset) return true;
      const auth = req.headers.authorization;
      const bearer = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : null;
      // header only: a token in the query string ends up in proxy logs, history and Referer
      return tokenMatches(token, bearer);
    }
    // without a token only loopback clients exist; a foreign Host header means DNS rebinding
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    return isLoopbackHost(host);
  }

  private async handleCommand(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    if (!(SAFE_COMMANDS as readonly string[]).includes(name)) {
      sendJson(res, 404, { status: 'error', error: `unknown or not allowed command "${name}" (allowed: ${SAFE_COMMANDS.join(', ')})` });
      return;
    }
    // a cross-site form can POST text/plain without a preflight; JSON plus same-origin cannot
    // "null" is what sandboxed iframes, file:// pages and some redirects send: never same-origin
    const origin = req.headers.origin;
    if (origin !== undefined) {
      let originHost = '';
      try {
        originHost = new URL(origin).host;
      } catch {
        originHost = '';
      }
      if (originHost !== req.headers.host) {
        sendJson(res, 403, { status: 'error', error: 'cross-origin command refused' });
        return;
      }
    }
    if (!(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) {
      sendJson(res, 415, { status: 'error', error: 'commands need Content-Type: application/json' });
      return;
    }
    let body: string;
    try {
      body = await readBody(req, MAX_BODY);
    } catch (err) {
      sendJson(res, 413, { status: 'error', error: (err as Error).message });
      return;
    }
    let args: Record<string, unknown> = {};
    if (body.trim() !== '') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        sendJson(res, 400, { status: 'error', error: 'body is not valid JSON' });
        return;
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        sendJson(res, 400, { status: 'error', error: 'body must be a JSON object' });
        return;
      }
      args = parsed as Record<string, unknown>;
    }
    try {
      const data = await this.opts.commands(name as SafeCommand, args);
      sendJson(res, 200, data === undefined ? { status: 'ok' } : { status: 'ok', data });
    } catch (err) {
      const user = err instanceof UserError;
      if (!user) this.opts.log?.error({ err, command: name }, 'dashboard command failed');
      sendJson(res, user ? 400 : 500, { status: 'error', error: err instanceof Error ? err.message : String(err) });
    }
  }

  private openEvents(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    const client: SseClient = { res };
    this.clients.add(client);
    const heartbeat = setInterval(() => res.write(': ping\n\n'), 15_000);
    heartbeat.unref();
    req.on('close', () => {
      clearInterval(heartbeat);
      this.clients.delete(client);
    });
    writeEvent(res, 'health', this.safeSnapshot());
    if (this.latestResult) writeEvent(res, 'result', dashboardResult(this.latestResult));
    for (const r of this.accumulatedByStream.values()) writeEvent(res, 'accumulated', toAccumulatedMeta(r));
  }

  private pushHealth(): void {
    if (this.clients.size === 0) return;
    this.broadcast('health', this.safeSnapshot());
  }

  private safeSnapshot(): HealthPayload | { error: string } {
    try {
      return this.opts.health.snapshot();
    } catch (err) {
      return { error: err instanceof Error ? err.message : String(err) };
    }
  }

  private broadcast(event: string, data: unknown): void {
    for (const c of this.clients) writeEvent(c.res, event, data);
  }
}

/**
 * The dashboard, listening. A configuration it refuses (a non-loopback host without a token, a
 * short token) throws; one that cannot listen (port taken) is logged and skipped, returning null:
 * an unattended device should keep measuring rather than crash-loop over a convenience.
 */
export async function startDashboard(opts: WebServerOptions): Promise<WebServer | null> {
  const server = new WebServer(opts);
  try {
    const { url } = await server.start();
    opts.log?.info({ url }, 'dashboard listening');
    return server;
  } catch (err) {
    opts.log?.error({ err: (err as Error).message }, 'dashboard not started');
    await server.close();
    return null;
  }
}

function writeEvent(res: ServerResponse, event: string, data: unknown): void {
  // JSON.stringify never emits raw newlines, so one data: line suffices
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

function send(res: ServerResponse, status: number, type: string, body: Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(body.length), ...headers });
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  send(res, status, 'application/json; charset=utf-8', Buffer.from(JSON.stringify(body)), headers);
}

/**
 * Rejects bodies over `limit`, but keeps draining (up to 16× the limit) so the client still gets
 * its 413 instead of a reset connection; anything larger is cut off.
 */
function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit * 16) {
        req.destroy();
        reject(new Error(`request body larger than ${limit} bytes`));
      } else if (size <= limit) {
        chunks.push(c);
      }
    });
    req.on('end', () => {
      if (size > limit) reject(new Error(`request body larger than ${limit} bytes`));
      else resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}
