import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import { Aedes } from 'aedes';
import { type Logger, silentLogger } from '../log.ts';

export interface EmbeddedBrokerOptions {
  host?: string;
  /** 0 = any free port; a busy port falls back to a free one */
  port?: number;
  /** serve MQTT over TLS (mqtts://) with these server options */
  tls?: TlsOptions;
  logger?: Logger;
}

/**
 * The aedes broker the daemon starts when no mqtt.url is configured. Speaks MQTT 3.1.1 only
 * (aedes has no MQTT 5); the client falls back automatically.
 */
/** …/cmd/<name>: a device command request (responses live one level deeper). */
export function isCommandTopic(topic: string): boolean {
  return /(^|\/)cmd\/[^/]+$/.test(topic);
}

export class EmbeddedBroker {
  private aedes: Aedes | undefined;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private boundPort = 0;
  private readonly host: string;
  private readonly wantPort: number;
  private readonly log: Logger;

  constructor(private readonly opts: EmbeddedBrokerOptions = {}) {
    this.host = opts.host ?? '127.0.0.1';
    this.wantPort = opts.port ?? 1883;
    this.log = (opts.logger ?? silentLogger).child({ module: 'broker' });
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    const h = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `${this.opts.tls ? 'mqtts' : 'mqtt'}://${h}:${this.boundPort}`;
  }

  get running(): boolean {
    return this.server?.listening === true;
  }

  /** Listen and return the URL. After stop({keepSessions: true}) it listens again on the same port. */
  async start(): Promise<string> {
    if (this.running) return this.url;
    if (!this.aedes) {
      this.aedes = await Aedes.createBroker({
        drainTimeout: 10_000,
        // MQTT 3.1.1 clears the retain flag on live delivery, so a device cannot tell a retained
        // command from a fresh one. The broker it embeds empties a retained command's payload:
        // subscribers get an empty message (never a command) and nothing is stored to run later.
        authorizePublish: (_client, packet, callback) => {
          if (packet.topic.startsWith('$SYS/')) {
            callback(new Error('$SYS/ topic is reserved'));
            return;
          }
          if (packet.retain && isCommandTopic(packet.topic)) packet.payload = Buffer.alloc(0);
          callback(null);
        },
      });
      this.aedes.on('clientError', (client, err) => this.log.debug({ client: client?.id, err: err.message }, 'client error'));
      this.aedes.on('connectionError', (client, err) => this.log.debug({ client: client?.id, err: err.message }, 'connection error'));
    }
    const aedes = this.aedes;
    const handler = (socket: Socket): void => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => {});
      aedes.handle(socket);
    };
    const first = this.boundPort || this.wantPort;
    try {
      this.server = await this.listen(handler, first);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || first === 0) throw e;
      this.server = await this.listen(handler, 0);
      this.log.warn(
        { wanted: first, port: (this.server.address() as { port: number }).port },
        'embedded broker port busy; using a free port',
      );
    }
    this.boundPort = (this.server.address() as { port: number }).port;
    this.log.info({ url: this.url }, 'embedded MQTT broker listening');
    return this.url;
  }

  private listen(handler: (s: Socket) => void, port: number): Promise<Server> {
    const server = this.opts.tls ? createTlsServer(this.opts.tls, handler) : createServer(handler);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.host, port }, () => {
        server.off('error', reject);
        server.on('error', (err) => this.log.error({ err: err.message }, 'broker server error'));
        resolve(server);
      });
    });
  }

  /**
   * Close the listener and every connection. keepSessions keeps retained messages and
   * persistent sessions in memory, as a broker with on-disk persistence would across a restart.
   */
  async stop(opts: { keepSessions?: boolean } = {}): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (!opts.keepSessions && this.aedes) {
      const a = this.aedes;
      this.aedes = undefined;
      await new Promise<void>((resolve) => a.close(() => resolve()));
    }
  }
}
