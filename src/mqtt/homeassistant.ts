import type { MqttClient } from './client.ts';

/**
 * Home Assistant MQTT discovery. Sensors read fields of the retained …/health JSON; the
 * templates below name the fields the health module is expected to publish (top level).
 */
export const HA_SENSORS = [
  { key: 'fps', name: 'Frame rate', unit: 'fps', field: 'frames.outPerSecond', stateClass: 'measurement', icon: 'mdi:speedometer' },
  { key: 'latency', name: 'Latency', unit: 'ms', field: 'latencyMs.total.p50', stateClass: 'measurement', icon: 'mdi:timer-outline' },
  {
    key: 'drops',
    name: 'Dropped frames',
    unit: undefined,
    field: 'frames.dropped',
    stateClass: 'total_increasing',
    icon: 'mdi:delete-outline',
  },
  {
    key: 'temperature',
    name: 'SoC temperature',
    unit: '°C',
    field: 'system.cpuTemperatureC',
    stateClass: 'measurement',
    icon: undefined,
    deviceClass: 'temperature',
  },
  {
    key: 'selftest',
    name: 'Last self-test score',
    unit: undefined,
    field: 'selfTest.score',
    stateClass: 'measurement',
    icon: 'mdi:check-decagram',
  },
] as const;

export interface HomeAssistantOptions {
  client: MqttClient;
  /** discovery prefix, normally "homeassistant" */
  prefix: string;
  deviceName: string;
  /** result streams that get an image entity */
  streams: string[];
  swVersion?: string;
}

export interface DiscoveryMessage {
  topic: string;
  payload: Record<string, unknown>;
}

/** Discovery config messages (retained) for this device. */
export function discoveryMessages(opts: Omit<HomeAssistantOptions, 'client'> & { client: Pick<MqttClient, 'topics'> }): DiscoveryMessage[] {
  const t = opts.client.topics;
  const node = `rayleigh_${t.deviceId}`.replace(/[^A-Za-z0-9_-]/g, '_');
  const device = {
    identifiers: [node],
    name: opts.deviceName,
    manufacturer: 'rayleigh',
    model: 'super-resolution edge device',
    ...(opts.swVersion ? { sw_version: opts.swVersion } : {}),
  };
  const availability = { topic: t.status, payload_available: 'online', payload_not_available: 'offline' };
  const out: DiscoveryMessage[] = [];
  for (const s of HA_SENSORS) {
    out.push({
      topic: `${opts.prefix}/sensor/${node}/${s.key}/config`,
      payload: {
        name: s.name,
        unique_id: `${node}_${s.key}`,
        state_topic: t.health,
        value_template: `{{ value_json.${s.field} | default(none) }}`,
        ...(s.unit ? { unit_of_measurement: s.unit } : {}),
        state_class: s.stateClass,
        ...('deviceClass' in s ? { device_class: s.deviceClass } : {}),
        ...(s.icon ? { icon: s.icon } : {}),
        availability: [availability],
        device,
      },
    });
  }
  for (const stream of opts.streams) {
    out.push({
      topic: `${opts.prefix}/image/${node}/${stream}/config`,
      payload: {
        name: `Super-resolved ${stream}`,
        unique_id: `${node}_image_${stream}`,
        image_topic: t.resultImage(stream),
        content_type: 'image/png',
        availability: [availability],
        device,
      },
    });
  }
  return out;
}

/** Publishes discovery on every connect (HA may have restarted and lost non-retained state). */
export class HomeAssistantDiscovery {
  private readonly onConnect = (): void => {
    void this.publish();
  };

  constructor(private readonly opts: HomeAssistantOptions) {}

  start(): void {
    this.opts.client.on('connect', this.onConnect);
    if (this.opts.client.connected) void this.publish();
  }

  stop(): void {
    this.opts.client.off('connect', this.onConnect);
  }

  async publish(): Promise<void> {
    await Promise.all(
      discoveryMessages(this.opts).map((m) =>
        this.opts.client.publish(m.topic, JSON.stringify(m.payload), { qos: 1, retain: true }).catch(() => undefined),
      ),
    );
  }

  /** Retained empty payloads remove the entities from Home Assistant. */
  async remove(): Promise<void> {
    await Promise.all(
      discoveryMessages(this.opts).map((m) => this.opts.client.publish(m.topic, '', { qos: 1, retain: true }).catch(() => undefined)),
    );
  }
}
