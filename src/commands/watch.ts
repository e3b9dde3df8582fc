import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import mqtt, { type IClientOptions, type MqttClient as RawClient } from 'mqtt';
import { UserError } from '../errors.ts';
import { checkBrokerUrl, redactUrl } from '../mqtt/client.ts';
import { parseTopic } from '../mqtt/topics.ts';

export interface WatchOptions {
  url: string;
  prefix: string;
  /** device id, or "+" for every device */
  device: string;
  json: boolean;
  /** exit after this many messages (0 = run until interrupted) */
  count: number;
  /** seconds to wait for the first connection */
  timeout: number;
  username?: string;
  passwordFile?: string;
  ca?: string;
  cert?: string;
  key?: string;
  allowInsecure: boolean;
  /** also show command requests and responses */
  commands: boolean;
}

export const watchDefaults: Omit<WatchOptions, 'url' | 'prefix' | 'device'> = {
  json: false,
  count: 0,
  timeout: 10,
  allowInsecure: false,
  commands: false,
};

function readFileOpt(what: string, file: string | undefined): Buffer | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (e) {
    throw new UserError(`--${what}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** Connect with MQTT 5, falling back to 3.1.1 when the broker refuses 5. */
async function connect(url: string, opts: IClientOptions, timeoutMs: number): Promise<RawClient> {
  const attempt = (protocolVersion: 4 | 5): Promise<RawClient> =>
    new Promise((resolve, reject) => {
      const c = mqtt.connect(url, { ...opts, protocolVersion, reconnectPeriod: 0, connectTimeout: timeoutMs });
      const t = setTimeout(() => {
        c.end(true);
        reject(new UserError(`cannot connect to ${redactUrl(url)} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      c.once('connect', () => {
        clearTimeout(t);
        c.removeAllListeners('error');
        c.on('error', () => {});
        resolve(c);
      });
      c.once('error', (err) => {
        clearTimeout(t);
        c.end(true);
        const code = (err as { code?: unknown }).code;
        reject(
          code === 1 || code === 132
            ? Object.assign(new Error('protocol'), { fallback: true })
            : new UserError(`cannot connect to ${redactUrl(url)}: ${err.message}`),
        );
      });
      c.once('close', () => {
        clearTimeout(t);
        reject(new UserError(`cannot connect to ${redactUrl(url)}: connection closed`));
      });
    });
  try {
    return await attempt(5);
  } catch (e) {
    if ((e as { fallback?: boolean }).fallback) return attempt(4);
    throw e;
  }
}

function time(): string {
  return new Date().toISOString().slice(11, 23);
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

function tryJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** One line per message: compact text, or a JSON object with --json. Images show as byte counts. */
export function formatMessage(prefix: string, topic: string, payload: Buffer, asJson: boolean): string {
  const p = parseTopic(prefix, topic);
  const device = p?.device ?? '?';
  const kind = p?.kind ?? 'other';
  if (asJson) {
    const base: Record<string, unknown> = { time: Date.now(), topic, device, kind };
    if (p && 'stream' in p) base.stream = p.stream;
    if (p && 'command' in p) base.command = p.command;
    if (kind === 'image' || kind === 'accumulated') base.bytes = payload.length;
    else base.payload = tryJson(payload) ?? payload.toString('utf8');
    return JSON.stringify(base);
  }
  const head = `${time()} ${device}`;
  switch (p?.kind) {
    case 'image':
      return `${head} image  ${p.stream} ${payload.length} bytes`;
    case 'accumulated':
      return `${head} accum  ${p.stream} ${payload.length} bytes`;
    case 'accumulated-meta':
      return `${head} accum  ${p.stream} ${clip(payload.toString('utf8'), 200)}`;
    case 'status':
      return `${head} status ${payload.toString('utf8')}`;
    case 'meta': {
      const m = tryJson(payload) as Record<string, unknown> | undefined;
      if (!m) return `${head} meta   ${p.stream} (not JSON, ${payload.length} bytes)`;
      const count = (m.localizations as { count?: unknown } | undefined)?.count;
      const locs = typeof count === 'number' ? count : '?';
      const model = (m.model as { id?: unknown } | undefined)?.id ?? '?';
      const total = (m.timings as { total?: unknown } | undefined)?.total;
      const score = (m.score as { f1?: unknown } | undefined)?.f1;
      return `${head} meta   ${p.stream} seq=${String(m.seq)} locs=${locs} model=${String(model)}${typeof total === 'number' ? ` total=${total.toFixed(1)}ms` : ''} dropped=${String(m.dropped)}${typeof score === 'number' ? ` f1=${score.toFixed(3)}` : ''}`;
    }
    case 'event': {
      const e = tryJson(payload) as Record<string, unknown> | undefined;
      if (!e) return `${head} event  ${clip(payload.toString('utf8'), 200)}`;
      return `${head} event  ${String(e.type)} ${String(e.severity ?? 'info')}${e.message ? ` ${String(e.message)}` : ''}${e.data !== undefined ? ` ${clip(JSON.stringify(e.data), 160)}` : ''}`;
    }
    case 'health': {
      const h = tryJson(payload) as
        | {
            frames?: { outPerSecond?: number; dropped?: number };
            latencyMs?: { total?: { p50?: number | null } };
            queueDepth?: number;
            model?: { id?: string } | null;
          }
        | undefined;
      if (!h?.frames) return `${head} health ${clip(payload.toString('utf8'), 240)}`;
      const p50 = h.latencyMs?.total?.p50;
      return `${head} health fps=${(h.frames.outPerSecond ?? 0).toFixed(1)} p50=${typeof p50 === 'number' ? `${p50.toFixed(1)}ms` : '-'} dropped=${String(h.frames.dropped ?? 0)} queue=${String(h.queueDepth ?? 0)} model=${h.model?.id ?? '-'}`;
    }
    case 'command':
      return `${head} cmd    ${p.command} ${clip(payload.toString('utf8'), 200)}`;
    case 'response':
      return `${head} reply  ${p.command} ${clip(payload.toString('utf8'), 200)}`;
    default:
      return `${head} ${topic} ${clip(payload.toString('utf8'), 200)}`;
  }
}

/** Subscribe and write one line per message to `out` until `count` messages or stop() / abort. */
export async function watch(opts: WatchOptions, out: (line: string) => void, signal?: AbortSignal): Promise<number> {
  checkBrokerUrl(opts.url, opts.allowInsecure);
  if (/[#+/]/.test(opts.device) && opts.device !== '+') throw new UserError(`--device must be a device id or "+", got "${opts.device}"`);
  const prefix = opts.prefix.replace(/\/+$/, '');
  const base = `${prefix}/${opts.device}`;
  const password = opts.passwordFile ? readFileOpt('password-file', opts.passwordFile)?.toString('utf8').trim() : undefined;
  const client = await connect(
    opts.url,
    {
      clientId: `rayleigh-watch-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
      clean: true,
      username: opts.username,
      password,
      ca: readFileOpt('ca', opts.ca),
      cert: readFileOpt('cert', opts.cert),
      key: readFileOpt('key', opts.key),
    },
    opts.timeout * 1000,
  );
  const filters = [`${base}/status`, `${base}/health`, `${base}/event`, `${base}/result/+/meta`, `${base}/result/+/image`];
  if (opts.commands) filters.push(`${base}/cmd/#`);
  let seen = 0;
  return new Promise<number>((resolve, reject) => {
    const finish = (): void => {
      client.end(true, () => resolve(seen));
    };
    signal?.addEventListener('abort', finish, { once: true });
    client.on('message', (topic, payload) => {
      if (opts.count > 0 && seen >= opts.count) return;
      seen++;
      out(formatMessage(prefix, topic, payload, opts.json));
      if (opts.count > 0 && seen >= opts.count) finish();
    });
    client.subscribe(filters, { qos: 0 }, (err) => {
      if (err) {
        client.end(true);
        reject(new UserError(`subscription refused: ${err.message}`));
      }
    });
  });
}

export function register(program: Command): void {
  program
    .command('watch')
    .description('subscribe and show what devices publish: results, health, status, events')
    .option('--url <url>', 'broker URL', 'mqtt://127.0.0.1:1883')
    .option('--prefix <prefix>', 'topic prefix', 'rayleigh')
    .option('--device <id>', 'device id, or + for all devices', '+')
    .option('--json', 'one JSON object per line', false)
    .option('--count <n>', 'exit after n messages', '0')
    .option('--timeout <s>', 'seconds to wait for the broker', '10')
    .option('--commands', 'also show command requests and responses', false)
    .option('--username <name>', 'broker user name')
    .option('--password-file <file>', 'file holding the broker password')
    .option('--ca <file>', 'CA certificate (mqtts://)')
    .option('--cert <file>', 'client certificate (mqtts://)')
    .option('--key <file>', 'client key (mqtts://)')
    .option('--allow-insecure', 'allow plaintext to a non-loopback broker', false)
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const count = Number(o.count);
      const timeout = Number(o.timeout);
      if (!Number.isInteger(count) || count < 0) throw new UserError(`--count must be a non-negative integer, got "${String(o.count)}"`);
      if (!Number.isFinite(timeout) || timeout <= 0)
        throw new UserError(`--timeout must be a positive number of seconds, got "${String(o.timeout)}"`);
      const ac = new AbortController();
      const onSig = (): void => ac.abort();
      process.once('SIGINT', onSig);
      process.once('SIGTERM', onSig);
      try {
        await watch(
          {
            url: String(o.url),
            prefix: String(o.prefix),
            device: String(o.device),
            json: o.json === true,
            count,
            timeout,
            commands: o.commands === true,
            username: typeof o.username === 'string' ? o.username : undefined,
            passwordFile: typeof o.passwordFile === 'string' ? o.passwordFile : undefined,
            ca: typeof o.ca === 'string' ? o.ca : undefined,
            cert: typeof o.cert === 'string' ? o.cert : undefined,
            key: typeof o.key === 'string' ? o.key : undefined,
            allowInsecure: o.allowInsecure === true,
          },
          (line) => process.stdout.write(`${line}\n`),
          ac.signal,
        );
      } finally {
        process.off('SIGINT', onSig);
        process.off('SIGTERM', onSig);
      }
    });
}
