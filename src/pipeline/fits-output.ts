/**
 * `pipeline.fits`: results written as FITS files for astronomers (src/io/fits-result.ts: the map
 * as the primary HDU with the camera's header keywords, the localisations as a binary table).
 * The full map exists only for the frames that are written (rate-limited, pixel-capped), only in
 * the engine worker, which encodes the file (frame-path.ts); this writer gets the bytes and does
 * the file work. The pipeline waits for the write, so a slow disk backs frames into the
 * drop-oldest queue, not memory.
 * Only the newest `keep` files this writer names are kept, so a night of frames cannot fill the card.
 */
import { mkdir, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import type { FrameResult } from './types.ts';

export interface FitsOutputSettings {
  dir: string;
  keep: number;
}

/** stream, capture time (UTC, sortable), seq: names sort in capture order within a stream */
const NAME = /^rayleigh-[A-Za-z0-9_-]+-\d{8}T\d{9}Z-\d+\.fits$/;

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:.]/g, '');
}

export class FitsResultWriter {
  private known: string[] | undefined;
  private readonly log: Logger;

  constructor(
    private readonly s: FitsOutputSettings,
    log?: Logger,
  ) {
    this.log = log ?? silentLogger;
  }

  /** Writes one result; resolves with the file's path. Throws on a write failure (the caller counts it). */
  async write(r: Pick<FrameResult, 'stream' | 'timestamp' | 'seq'>, bytes: Uint8Array): Promise<string> {
    if (!this.known) {
      await mkdir(this.s.dir, { recursive: true });
      // files from earlier runs count against `keep` too
      this.known = (await readdir(this.s.dir)).filter((f) => NAME.test(f)).sort();
    }
    const name = `rayleigh-${r.stream}-${stamp(r.timestamp)}-${r.seq}.fits`;
    const path = join(this.s.dir, name);
    // a reader (or a crash) never sees half a file
    const tmp = `${path}.part`;
    await writeFile(tmp, bytes);
    await rename(tmp, path);
    if (!this.known.includes(name)) this.known.push(name);
    while (this.known.length > this.s.keep) {
      const old = this.known.shift() as string;
      await unlink(join(this.s.dir, old)).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') this.log.warn({ file: old, err: e.message }, 'fits: cannot delete an old result');
      });
    }
    return path;
  }
}
