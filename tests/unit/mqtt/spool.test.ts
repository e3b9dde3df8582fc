import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Spool } from '../../../src/mqtt/spool.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'spool-test-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const rec = (i: number) => ({ meta: Buffer.from(JSON.stringify({ stream: 'main', seq: i })), image: Buffer.alloc(100, i) });

describe('Spool', () => {
  it('keeps records in order and survives a reopen', () => {
    const a = new Spool({ dir, maxBytes: 1e6, maxCount: 100 });
    a.open();
    for (let i = 0; i < 5; i++) a.append(rec(i).meta, rec(i).image);
    const first = a.ids()[0];
    a.remove(first);
    const b = new Spool({ dir, maxBytes: 1e6, maxCount: 100 });
    b.open();
    expect(b.count).toBe(4);
    const seqs = b.ids().map((id) => JSON.parse(b.read(id)!.meta.toString()).seq);
    expect(seqs).toEqual([1, 2, 3, 4]);
    expect(b.read(b.ids()[0])!.image.equals(rec(1).image)).toBe(true);
    // new ids continue after the highest one on disk
    const id = b.append(rec(9).meta, rec(9).image)!;
    expect(id).toBeGreaterThan(Math.max(...b.ids().slice(0, -1)));
  });

  it('evicts the oldest records beyond maxCount and counts them', () => {
    const s = new Spool({ dir, maxBytes: 1e6, maxCount: 3 });
    s.open();
    for (let i = 0; i < 5; i++) s.append(rec(i).meta, rec(i).image);
    expect(s.count).toBe(3);
    expect(s.stats().evicted).toBe(2);
    expect(s.ids().map((id) => JSON.parse(s.read(id)!.meta.toString()).seq)).toEqual([2, 3, 4]);
    expect(readdirSync(dir).filter((f) => f.endsWith('.rec'))).toHaveLength(3);
  });

  it('evicts by bytes and rejects a record larger than the whole spool', () => {
    const size = 16 + rec(0).meta.length + 100;
    const s = new Spool({ dir, maxBytes: size * 2 + 10, maxCount: 100 });
    s.open();
    for (let i = 0; i < 4; i++) s.append(rec(i).meta, rec(i).image);
    expect(s.count).toBe(2);
    expect(s.stats().bytes).toBeLessThanOrEqual(size * 2 + 10);
    expect(s.append(Buffer.alloc(10), Buffer.alloc(size * 3))).toBeUndefined();
    expect(s.stats().rejected).toBe(1);
  });

  it('drops a torn record (truncated file) and a stray temp file on open', () => {
    const a = new Spool({ dir, maxBytes: 1e6, maxCount: 100 });
    a.open();
    for (let i = 0; i < 3; i++) a.append(rec(i).meta, rec(i).image);
    const files = readdirSync(dir).sort();
    const last = join(dir, files[2]);
    truncateSync(last, statSync(last).size - 7);
    writeFileSync(join(dir, '0000000000000099.tmp'), 'partial');
    const b = new Spool({ dir, maxBytes: 1e6, maxCount: 100 });
    b.open();
    expect(b.count).toBe(2);
    expect(b.stats().corrupt).toBe(1);
    expect(readdirSync(dir).some((f) => f.endsWith('.tmp'))).toBe(false);
    expect(b.ids().map((id) => JSON.parse(b.read(id)!.meta.toString()).seq)).toEqual([0, 1]);
  });

  it('detects a flipped byte through the CRC and never returns the record', () => {
    const s = new Spool({ dir, maxBytes: 1e6, maxCount: 100 });
    s.open();
    const id = s.append(rec(1).meta, rec(1).image)!;
    const file = join(dir, readdirSync(dir)[0]);
    const buf = readFileSync(file);
    buf[buf.length - 1] ^= 0xff;
    writeFileSync(file, buf);
    expect(s.read(id)).toBeUndefined();
    expect(s.stats().corrupt).toBe(1);
    expect(s.count).toBe(0);
  });
});
