import { describe, expect, it } from 'vitest';
import { isLoopbackHost } from '../../../src/net/loopback.ts';

describe('isLoopbackHost (one owner for the broker policy and the dashboard)', () => {
  it('knows loopback names and addresses, bracketed or not, IPv4-mapped in both spellings', () => {
    for (const h of [
      '127.0.0.1',
      '127.8.9.1',
      'localhost',
      'LOCALHOST',
      'localhost.localdomain',
      'ip6-localhost',
      '::1',
      '[::1]',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
      '[::ffff:127.0.0.1]',
      '::ffff:7f00:1',
    ])
      expect(isLoopbackHost(h), h).toBe(true);
  });

  it('refuses everything else', () => {
    for (const h of [
      '0.0.0.0',
      '::',
      '10.0.0.1',
      '128.0.0.1',
      '::2',
      '::ffff:10.0.0.1',
      '::ffff:a00:1',
      'example.org',
      'localhost.example.org',
      '',
    ])
      expect(isLoopbackHost(h), h).toBe(false);
  });
});
