import type { FaultSummary } from '../hardware/faults.ts';
import type { MqttClientState } from '../mqtt/client.ts';
import type { SpoolStats } from '../mqtt/spool.ts';
import type { BrokerStatus, DeviceStatus } from './metrics.ts';

/**
 * Shapes other modules' status objects into the health payload's, so the Metrics providers are
 * one-liners in the controller: `devices: () => devicesFromFaults(faults.snapshot(), ['dmd', 'stage'])`.
 */

/**
 * A device counts as not ok while its last fault is younger than `recentMs`: a single NACK an
 * hour ago should not paint the dashboard red forever, the cumulative count keeps the history.
 */
export function devicesFromFaults(
  snapshot: Record<string, FaultSummary>,
  known: string[] = [],
  opts: { recentMs?: number; now?: number } = {},
): DeviceStatus[] {
  const recentMs = opts.recentMs ?? 60_000;
  const now = opts.now ?? Date.now();
  const names = [...new Set([...known, ...Object.keys(snapshot)])].sort();
  return names.map((name) => {
    const f = snapshot[name];
    if (!f) return { name, ok: true, faults: 0, lastFault: null };
    const at = Date.parse(f.lastAt);
    const recent = Number.isFinite(at) ? now - at < recentMs : true;
    return { name, ok: !recent, faults: f.count, lastFault: f.lastMessage };
  });
}

export function brokerFromMqtt(
  state: MqttClientState,
  spool: Partial<Pick<SpoolStats, 'count' | 'bytes' | 'evicted' | 'corrupt' | 'rejected' | 'writeFailed'>> | null,
  publisher?: { refused: number; lost: number },
): BrokerStatus {
  return {
    state: state.connected ? 'connected' : state.connects > 0 ? 'reconnecting' : 'connecting',
    connected: state.connected,
    url: state.url,
    spoolMessages: spool?.count ?? 0,
    spoolBytes: spool?.bytes ?? 0,
    lost: {
      evicted: spool?.evicted ?? 0,
      corrupt: spool?.corrupt ?? 0,
      rejected: spool?.rejected ?? 0,
      writeFailed: spool?.writeFailed ?? 0,
      refused: publisher?.refused ?? 0,
      unspooled: publisher?.lost ?? 0,
    },
  };
}
