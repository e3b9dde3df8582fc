import { isAbsolute, join } from 'node:path';
import type { Settings } from '../config/schema.ts';
import { type Logger, silentLogger } from '../log.ts';
import { EmbeddedBroker } from './broker.ts';
import { MqttClient } from './client.ts';
import { CommandServer, type DeviceApi } from './commands.ts';
import { HomeAssistantDiscovery } from './homeassistant.ts';
import { ResultPublisher } from './publisher.ts';
import { Spool } from './spool.ts';

export interface MqttStack {
  /** present when no mqtt.url was configured */
  broker?: EmbeddedBroker;
  /** broker URL, credentials never included */
  url: string;
  client: MqttClient;
  spool: Spool;
  publisher: ResultPublisher;
  commands?: CommandServer;
  homeassistant?: HomeAssistantDiscovery;
  /** clean stop: `stopped` status, disconnect, embedded broker down */
  stop(): Promise<void>;
}

export interface StartMqttOptions {
  /** answers …/cmd/<name>; without it no command server is started */
  api?: DeviceApi;
  logger?: Logger;
  swVersion?: string;
}

/** Wire broker (embedded when mqtt.url is absent), client, spool, publisher, commands and HA discovery. */
export async function startMqtt(settings: Settings, opts: StartMqttOptions = {}): Promise<MqttStack> {
  const logger = opts.logger ?? silentLogger;
  const cfg = settings.mqtt;
  let broker: EmbeddedBroker | undefined;
  let url = cfg.url;
  if (!url) {
    broker = new EmbeddedBroker({ host: cfg.embedded.host, port: cfg.embedded.port, logger });
    url = await broker.start();
  }
  // aedes speaks 3.1.1 only: skip the refused MQTT 5 attempt and its reconnect delay
  const clientCfg = broker ? { ...cfg, protocolVersion: 4 as const } : cfg;
  const client = new MqttClient({ url, deviceId: settings.device.id, config: clientCfg, logger });
  const dir = isAbsolute(cfg.spool.dir) ? cfg.spool.dir : join(settings.stateDir, cfg.spool.dir);
  const { maxBytes, maxCount, durability, batchMs, batchRecords } = cfg.spool;
  const spool = new Spool({ dir, maxBytes, maxCount, durability, batchMs, batchRecords, logger });
  const publisher = new ResultPublisher({ client, spool, config: cfg, logger });
  const commands =
    opts.api && cfg.commands.enabled
      ? new CommandServer({ client, api: opts.api, config: cfg.commands, streams: [settings.pipeline.stream], logger })
      : undefined;
  const homeassistant = cfg.homeassistant.enabled
    ? new HomeAssistantDiscovery({
        client,
        prefix: cfg.homeassistant.prefix,
        deviceName: settings.device.name,
        streams: [settings.pipeline.stream],
        swVersion: opts.swVersion,
      })
    : undefined;
  await publisher.start();
  commands?.start();
  homeassistant?.start();
  client.start();
  return {
    broker,
    url: client.state().url,
    client,
    spool,
    publisher,
    commands,
    homeassistant,
    async stop() {
      commands?.stop();
      homeassistant?.stop();
      publisher.stop();
      await client.stop();
      await spool.close();
      await broker?.stop();
    },
  };
}

export { EmbeddedBroker } from './broker.ts';
export { checkBrokerUrl, MqttClient, redactMqttConfig, redactUrl } from './client.ts';
export { CommandServer, type DeviceApi, type SetConfigResult } from './commands.ts';
export { discoveryMessages, HomeAssistantDiscovery } from './homeassistant.ts';
export { ResultPublisher } from './publisher.ts';
export { Spool } from './spool.ts';
export { parseTopic, Topics } from './topics.ts';
