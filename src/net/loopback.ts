import { isIP } from 'node:net';

/** Names that resolve to the loopback interface on the systems we run on (/etc/hosts on Debian). */
const LOOPBACK_NAMES = new Set(['localhost', 'localhost.localdomain', 'ip6-localhost', 'ip6-loopback']);

/**
 * Whether a host (a name, an IPv4 or IPv6 address, bracketed or not) is this machine's loopback:
 * where plaintext MQTT is allowed, and where the dashboard may run without a token. One owner for
 * both, so the broker policy and the dashboard cannot disagree.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (LOOPBACK_NAMES.has(h)) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) !== 6) return false;
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  // IPv4-mapped 127.0.0.0/8, dotted (::ffff:127.0.0.1) or hex (::ffff:7f00:1)
  return /^(0:0:0:0:0|:):ffff:(127\.|7f[0-9a-f]{2}:)/.test(h);
}
