import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { FileCameraConfig } from '../config/camera.ts';
import { UserError } from '../errors.ts';
import type { Image } from '../optics/image.ts';
import type { Frame, FrameSource, FrameSourceStats } from './types.ts';

export const REPLAY_EXTENSIONS = ['.npy', '.tif', '.tiff', '.png', '.fits', '.fit', '.fts'];

export type ImageReader = (path: string) => Promise<Image>;

async function defaultReader(path: string): Promise<Image> {
  // src/io is written in parallel; loaded lazily so replay can be tested with an injected reader
  const io = (await import('../io/index.ts')) as { readImage: ImageReader };
  return io.readImage(path);
}

/** Replays one image file or every image in a directory (sorted by name) at a fixed rate. */
export class FileFrameSource implements FrameSource {
  readonly kind = 'file';
  private files: string[] | undefined;
  private index = 0;
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private readonly st: FrameSourceStats = { frames: 0, restarts: 0, errors: 0 };

  constructor(
    private readonly cfg: Pick<FileCameraConfig, 'path' | 'fps' | 'loop'>,
    private readonly read: ImageReader = defaultReader,
  ) {}

  /** the files that will be replayed, in order */
  async list(): Promise<string[]> {
    if (this.files) return this.files;
    let s: Awaited<ReturnType<typeof stat>>;
    try {
      s = await stat(this.cfg.path);
    } catch {
      throw new UserError(`camera file source: ${this.cfg.path} does not exist`);
    }
    if (s.isDirectory()) {
      const names = (await readdir(this.cfg.path)).filter((n) => REPLAY_EXTENSIONS.includes(extname(n).toLowerCase())).sort();
      if (names.length === 0) {
        throw new UserError(`camera file source: no images (${REPLAY_EXTENSIONS.join(' ')}) in directory ${this.cfg.path}`);
      }
      this.files = names.map((n) => join(this.cfg.path, n));
    } else {
      this.files = [this.cfg.path];
    }
    return this.files;
  }

  async start(onFrame: (frame: Frame) => void, onError: (err: Error) => void): Promise<void> {
    if (this.running) throw new Error('file source already started');
    const files = await this.list();
    this.running = true;
    const periodMs = 1000 / this.cfg.fps;
    const tick = async (): Promise<void> => {
      if (!this.running) return;
      if (this.index >= files.length) {
        if (!this.cfg.loop) {
          this.running = false;
          return;
        }
        this.index = 0;
      }
      const t0 = Date.now();
      try {
        const frame = await this.frameAt(this.index++);
        if (this.running) onFrame(frame);
      } catch (err) {
        this.st.errors++;
        this.st.lastError = (err as Error).message;
        onError(err as Error);
      }
      if (this.running) this.timer = setTimeout(() => void tick(), Math.max(0, periodMs - (Date.now() - t0)));
    };
    this.timer = setTimeout(() => void tick(), 0);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  async capture(): Promise<Frame> {
    const files = await this.list();
    return this.frameAt(this.index % files.length);
  }

  stats(): FrameSourceStats {
    return { ...this.st };
  }

  private async frameAt(i: number): Promise<Frame> {
    const files = await this.list();
    const path = files[i];
    let image: Image;
    try {
      image = await this.read(path);
    } catch (err) {
      throw new UserError(`camera file source: cannot read ${path}: ${(err as Error).message}`);
    }
    this.st.frames++;
    return { seq: this.seq++, timestamp: Date.now(), image, source: 'file' };
  }
}
