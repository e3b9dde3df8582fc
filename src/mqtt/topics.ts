/** Topic names of the MQTT contract (ARCHITECTURE.md "MQTT contract"), in one place. */

// MQTT forbids U+0000 in topic names (spec 4.7.3), so the NUL in these classes is deliberate
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is what we reject
const LEVEL = /^[^/#+\u0000]+$/;

/** A stream or command name becomes one topic level; wildcards or slashes would change its meaning. */
export function assertTopicLevel(kind: string, value: string): void {
  if (!LEVEL.test(value)) throw new Error(`${kind} "${value}" cannot be used as an MQTT topic level`);
}

export class Topics {
  readonly base: string;

  constructor(
    readonly prefix: string,
    readonly deviceId: string,
  ) {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is what we reject
    if (!prefix || /[#+\u0000]/.test(prefix)) throw new Error(`invalid MQTT topic prefix "${prefix}"`);
    assertTopicLevel('device id', deviceId);
    this.base = `${prefix.replace(/\/+$/, '')}/${deviceId}`;
  }

  get status(): string {
    return `${this.base}/status`;
  }
  get health(): string {
    return `${this.base}/health`;
  }
  get event(): string {
    return `${this.base}/event`;
  }
  resultMeta(stream: string): string {
    assertTopicLevel('stream', stream);
    return `${this.base}/result/${stream}/meta`;
  }
  resultImage(stream: string): string {
    assertTopicLevel('stream', stream);
    return `${this.base}/result/${stream}/image`;
  }
  /** retained PNG of the accumulated render, and its retained JSON descriptor */
  resultAccumulated(stream: string): string {
    assertTopicLevel('stream', stream);
    return `${this.base}/result/${stream}/accumulated`;
  }
  resultAccumulatedMeta(stream: string): string {
    return `${this.resultAccumulated(stream)}/meta`;
  }
  command(name: string): string {
    assertTopicLevel('command', name);
    return `${this.base}/cmd/${name}`;
  }
  commandResponse(name: string): string {
    return `${this.command(name)}/response`;
  }
  /** what the command server subscribes to; one level only, so …/cmd/x/response never matches */
  get commandFilter(): string {
    return `${this.base}/cmd/+`;
  }

  /** name of the command a topic addresses, or undefined when it is not one of ours */
  commandName(topic: string): string | undefined {
    const head = `${this.base}/cmd/`;
    if (!topic.startsWith(head)) return undefined;
    const rest = topic.slice(head.length);
    return rest.length > 0 && !rest.includes('/') ? rest : undefined;
  }

  /** true for any topic under our command namespace (requests and our own responses) */
  isCommandNamespace(topic: string): boolean {
    return topic.startsWith(`${this.base}/cmd/`);
  }
}

/** Parsed form of any topic under <prefix>/<device>/…, for consumers such as `rayleigh watch`. */
export type ParsedTopic =
  | { device: string; kind: 'status' | 'health' | 'event' }
  | { device: string; kind: 'meta' | 'image' | 'accumulated' | 'accumulated-meta'; stream: string }
  | { device: string; kind: 'command'; command: string }
  | { device: string; kind: 'response'; command: string }
  | { device: string; kind: 'other'; rest: string };

export function parseTopic(prefix: string, topic: string): ParsedTopic | undefined {
  const head = `${prefix.replace(/\/+$/, '')}/`;
  if (!topic.startsWith(head)) return undefined;
  const parts = topic.slice(head.length).split('/');
  const device = parts[0];
  if (!device) return undefined;
  const rest = parts.slice(1);
  if (rest.length === 1 && (rest[0] === 'status' || rest[0] === 'health' || rest[0] === 'event')) {
    return { device, kind: rest[0] };
  }
  if (rest.length === 3 && rest[0] === 'result' && (rest[2] === 'meta' || rest[2] === 'image')) {
    return { device, kind: rest[2], stream: rest[1] };
  }
  if (rest.length === 3 && rest[0] === 'result' && rest[2] === 'accumulated') return { device, kind: 'accumulated', stream: rest[1] };
  if (rest.length === 4 && rest[0] === 'result' && rest[2] === 'accumulated' && rest[3] === 'meta') {
    return { device, kind: 'accumulated-meta', stream: rest[1] };
  }
  if (rest[0] === 'cmd' && rest.length === 2) return { device, kind: 'command', command: rest[1] };
  if (rest[0] === 'cmd' && rest.length === 3 && rest[2] === 'response') return { device, kind: 'response', command: rest[1] };
  return { device, kind: 'other', rest: rest.join('/') };
}
