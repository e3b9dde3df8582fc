/**
 * Spool cost per durability setting, side by side in one run on one disk.
 *
 *   npx tsx bench/spool-bench.ts [--dir DIR] [--seconds 5] [--fps 30] [--bytes 20000] [--json FILE]
 *
 * Three loads per setting (`batch` with the default 250 ms window, `record`):
 *  - paced: `--fps` results/s of `--bytes` each (the daemon's case), each delivered (removed) once
 *    durable: fsyncs/s (the SD-card wear), time from append to durable;
 *  - burst: as fast as possible with 64 appends outstanding: appends/s and fsyncs/s;
 *  - serial: each append awaited before the next (a caller that needs each one durable): appends/s;
 *  - drain: a backlog of `--backlog` records reopened (the restart after an outage) and read
 *    oldest first, 8 reads outstanding like the publisher: reopen time and reads/s.
 * DIR defaults to a fresh directory under the current one, i.e. the disk the daemon would use;
 * pass a path on the SD card to measure it (tmpfs makes fsync free and the figures meaningless).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type EventLoopUtilization, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Spool, type SpoolDurability } from '../src/mqtt/spool.ts';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: '.' },
    seconds: { type: 'string', default: '5' },
    fps: { type: 'string', default: '30' },
    bytes: { type: 'string', default: '20000' },
    backlog: { type: 'string', default: '5000' },
    json: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const fps = Number(values.fps);
const recordBytes = Number(values.bytes);

const meta = Buffer.from(JSON.stringify({ stream: 'main', seq: 0, pad: 'x'.repeat(400) }));
const image = Buffer.alloc(Math.max(0, recordBytes - meta.length), 7);

interface LoadResult {
  appends: number;
  seconds: number;
  appendsPerS: number;
  fsyncsPerS: number;
  dirFsyncsPerS: number;
  /** ms from append() to its promise resolving */
  durableP50Ms?: number;
  durableP99Ms?: number;
  /** share of wall time the main thread was busy (event-loop utilisation) */
  mainThreadBusy: number;
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
};

async function withSpool<T>(durability: SpoolDurability, f: (s: Spool) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(resolve(values.dir), '.spool-bench-'));
  const spool = new Spool({ dir, maxBytes: 1024 * 1024 * 1024, maxCount: 1_000_000, durability });
  await spool.open();
  try {
    return await f(spool);
  } finally {
    await spool.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function summarise(spool: Spool, appends: number, t0: number, elu0: EventLoopUtilization, lat?: number[]): LoadResult {
  const s = (performance.now() - t0) / 1000;
  const busy = performance.eventLoopUtilization(elu0).utilization;
  const st = spool.stats();
  return {
    appends,
    seconds: Number(s.toFixed(2)),
    appendsPerS: Math.round(appends / s),
    fsyncsPerS: Number((st.fsyncs / s).toFixed(1)),
    dirFsyncsPerS: Number((st.dirFsyncs / s).toFixed(2)),
    mainThreadBusy: Number(busy.toFixed(3)),
    ...(lat ? { durableP50Ms: Number(quantile(lat, 0.5).toFixed(1)), durableP99Ms: Number(quantile(lat, 0.99).toFixed(1)) } : {}),
  };
}

const paced = (durability: SpoolDurability): Promise<LoadResult> =>
  withSpool(durability, async (spool) => {
    const lat: number[] = [];
    const n = Math.round(seconds * fps);
    const t0 = performance.now();
    const elu0 = performance.eventLoopUtilization();
    const done: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const due = t0 + (i * 1000) / fps;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const t = performance.now();
      done.push(
        spool.append(meta, image).then((id) => {
          lat.push(performance.now() - t);
          if (id !== undefined) spool.remove(id);
        }),
      );
    }
    await Promise.all(done);
    return summarise(spool, n, t0, elu0, lat);
  });

const burst = (durability: SpoolDurability): Promise<LoadResult> =>
  withSpool(durability, async (spool) => {
    const t0 = performance.now();
    const elu0 = performance.eventLoopUtilization();
    const end = t0 + seconds * 1000;
    let n = 0;
    const worker = async (): Promise<void> => {
      while (performance.now() < end) {
        const id = await spool.append(meta, image);
        n++;
        if (id !== undefined) spool.remove(id);
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));
    return summarise(spool, n, t0, elu0);
  });

const serial = (durability: SpoolDurability): Promise<LoadResult> =>
  withSpool(durability, async (spool) => {
    const t0 = performance.now();
    const elu0 = performance.eventLoopUtilization();
    const end = t0 + seconds * 1000;
    let n = 0;
    while (performance.now() < end) {
      const id = await spool.append(meta, image);
      n++;
      if (id !== undefined) spool.remove(id);
    }
    return summarise(spool, n, t0, elu0);
  });

interface DrainResult {
  records: number;
  reopenMs: number;
  readsPerS: number;
}

async function drain(): Promise<DrainResult> {
  const dir = mkdtempSync(join(resolve(values.dir), '.spool-bench-'));
  try {
    const opts = { dir, maxBytes: 1024 * 1024 * 1024, maxCount: 1_000_000 };
    const a = new Spool(opts);
    await a.open();
    await Promise.all(Array.from({ length: Number(values.backlog) }, () => a.append(meta, image)));
    await a.close();
    const b = new Spool(opts);
    const t0 = performance.now();
    await b.open();
    const reopenMs = performance.now() - t0;
    const ids = b.ids();
    const t1 = performance.now();
    for (let i = 0; i < ids.length; i += 8) {
      const recs = await Promise.all(ids.slice(i, i + 8).map((id) => b.read(id)));
      for (const r of recs) if (r) b.remove(r.id);
    }
    const readsPerS = Math.round(ids.length / ((performance.now() - t1) / 1000));
    await b.close();
    return { records: ids.length, reopenMs: Math.round(reopenMs), readsPerS };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const results: Record<string, Record<string, LoadResult>> = {};
for (const durability of ['batch', 'record'] as const) {
  results[durability] = {
    paced: await paced(durability),
    burst: await burst(durability),
    serial: await serial(durability),
  };
}

const drained = await drain();
const out = { recordBytes: meta.length + image.length, fps, seconds, dir: resolve(values.dir), results, drain: drained };
console.log('| durability | load | appends/s | fsyncs/s | dir fsyncs/s | durable p50 / p99 ms | main thread busy |');
console.log('|---|---|---|---|---|---|---|');
for (const [d, loads] of Object.entries(results)) {
  for (const [load, r] of Object.entries(loads)) {
    const lat = r.durableP50Ms === undefined ? '' : `${r.durableP50Ms} / ${r.durableP99Ms}`;
    console.log(
      `| ${d} | ${load} | ${r.appendsPerS} | ${r.fsyncsPerS} | ${r.dirFsyncsPerS} | ${lat} | ${(r.mainThreadBusy * 100).toFixed(1)}% |`,
    );
  }
}
console.log(`\ndrain: ${drained.records} records reopened in ${drained.reopenMs} ms, read oldest first at ${drained.readsPerS} records/s`);
if (values.json) writeFileSync(values.json, `${JSON.stringify(out, null, 2)}\n`);
