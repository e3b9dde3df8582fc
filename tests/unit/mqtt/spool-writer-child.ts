/**
 * Child for spool-crash.test.ts: appends one record per timer tick to the spool in argv[2] with
 * durability argv[3] and prints `A <seq>` when a record is accepted and `D <seq>` once its append
 * resolved (durable by the spool's promise). stdout to a pipe is synchronous on Linux, so a line
 * the parent read was printed before the kill.
 */
import { Spool, type SpoolDurability } from '../../../src/mqtt/spool.ts';
import { spoolTestRecord } from './spool-test-record.ts';

const [dir, durability, batchMs] = process.argv.slice(2);
const spool = new Spool({
  dir: dir ?? '',
  maxBytes: 64 * 1024 * 1024,
  maxCount: 100_000,
  durability: durability as SpoolDurability,
  batchMs: Number(batchMs ?? 250),
  batchRecords: 10_000,
});
await spool.open();
let seq = 0;
setInterval(() => {
  for (let k = 0; k < 4; k++) {
    const s = seq++;
    const { meta, image } = spoolTestRecord(s);
    const done = spool.append(meta, image);
    process.stdout.write(`A ${s}\n`);
    done.then(
      () => process.stdout.write(`D ${s}\n`),
      (e: Error) => process.stdout.write(`E ${s} ${e.message}\n`),
    );
  }
}, 2);
