import { UserError } from './errors.ts';
import type { Logger } from './log.ts';

/**
 * What a start-up has brought up so far, closed in reverse order when a later step fails: a
 * daemon that cannot start must exit, and it can only exit once every worker thread, socket
 * and timer it opened is gone.
 */
export class StartedParts {
  private readonly parts: Array<{ name: string; close: () => Promise<unknown> | unknown }> = [];

  add(name: string, close: () => Promise<unknown> | unknown): void {
    this.parts.push({ name, close });
  }

  /** Closes everything added, newest first; a part that fails or hangs does not stop the rest. */
  async unwind(log?: Logger, timeoutMs = 5000): Promise<void> {
    for (const part of this.parts.splice(0).reverse()) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(part.close),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`did not close within ${timeoutMs} ms`)), timeoutMs);
            timer.unref();
          }),
        ]);
      } catch (e) {
        log?.warn({ part: part.name, err: (e as Error).message }, 'part did not close cleanly after a failed start');
      } finally {
        clearTimeout(timer);
      }
    }
  }
}

/** A configured model that cannot serve at start is the user's to fix, not a silent fallback. */
export function modelStartError(model: string, cause: unknown): UserError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new UserError(
    `inference.model "${model}" cannot be loaded: ${why} (set inference.fallback: rl to start with Richardson–Lucy instead)`,
  );
}
