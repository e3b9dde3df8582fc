import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Spool } from '../../../src/mqtt/spool.ts';
import { until } from './fixtures.ts';
import { spoolTestRecord } from './spool-test-record.ts';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'spool-writer-child.ts');

/**
 * kill -9 a process appending ~2000 records/s, then reopen its spool. What the durability setting
 * promises: every record whose append resolved is there and intact; what is missing is only the
 * tail appended after the last resolved one (batch mode: the open batch window and the write in
 * progress); nothing torn or mixed is ever returned.
 */
describe.each([
  ['batch', 50, 40],
  ['record', 0, 1],
] as const)('kill -9 while appending (%s durability)', (durability, batchMs, unacked) => {
  it('keeps every acknowledged record whole and loses only the unacknowledged tail', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-crash-'));
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, durability, String(batchMs)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_code, sig) => r(sig)));
      // everything the child printed before it died, not just what arrived before 'exit'
      const drained = new Promise<void>((r) => child.stdout.on('close', () => r()));
      const accepted: number[] = [];
      const durable = new Set<number>();
      const errors: string[] = [];
      let rest = '';
      child.stdout.on('data', (chunk: Buffer) => {
        const lines = (rest + chunk.toString()).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) {
          const [kind, seq] = line.split(' ');
          if (kind === 'A') accepted.push(Number(seq));
          else if (kind === 'D') durable.add(Number(seq));
          else errors.push(line);
        }
        // kill the moment records are accepted but not yet acknowledged as durable (in batch mode,
        // well into a window; record mode acknowledges too fast for that)
        if (!killed && durable.size >= 300 && accepted.length - durable.size >= unacked) killed = child.kill('SIGKILL');
      });
      let killed = false;
      await until(() => killed, 30_000, 'acknowledged appends');
      expect(await exited).toBe('SIGKILL');
      await drained;
      expect(errors).toEqual([]);

      const spool = new Spool({ dir, maxBytes: 64 * 1024 * 1024, maxCount: 100_000 });
      await spool.open();
      const present: number[] = [];
      for (const id of spool.ids()) {
        const rec = await spool.read(id);
        expect(rec).toBeDefined();
        if (!rec) continue;
        const seq = JSON.parse(rec.meta.toString()).seq as number;
        const want = spoolTestRecord(seq);
        expect(rec.meta.equals(want.meta)).toBe(true);
        expect(rec.image.equals(want.image)).toBe(true);
        present.push(seq);
      }
      // whole records, in order, no holes: what survived is a prefix of what was appended
      expect(present).toEqual(Array.from({ length: present.length }, (_, i) => i));
      const lastDurable = Math.max(...durable);
      expect(present.length).toBeGreaterThan(lastDurable);
      for (const seq of durable) expect(seq).toBeLessThan(present.length);
      // the spool keeps working after the crash
      const id = await spool.append(Buffer.from('{"stream":"main","seq":-1}'));
      expect(spool.ids().at(-1)).toBe(id);
      await spool.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
