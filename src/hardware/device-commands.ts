import type { Dmd } from './dmd/types.ts';
import { renderPatternOffThread } from './pattern-render.ts';
import type { Mask, PatternSpec } from './patterns.ts';
import type { Stage, StageStatus } from './stage/types.ts';

/**
 * The motion and DMD command bodies, cancellable: each checks its abort signal between hardware
 * steps and passes it to the stage, so a command that timed out or was overtaken by an e-stop
 * stops instead of finishing in the background.
 */

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason));
}

/** Render off the event loop, then light the mirrors; an abort after lighting blanks them again. */
export async function showPattern(dmd: Dmd, pattern: PatternSpec, signal?: AbortSignal): Promise<Mask> {
  const mask = await renderPatternOffThread(pattern, dmd.width, dmd.height, signal);
  throwIfAborted(signal);
  await dmd.setLeds(true);
  throwIfAborted(signal);
  await dmd.showMask(mask);
  if (signal?.aborted) {
    // an e-stop raced the upload: whatever it stopped, this upload must not leave mirrors lit
    await dmd.stop().catch(() => undefined);
    throwIfAborted(signal);
  }
  return mask;
}

export interface MoveRequest {
  axes: Record<string, number>;
  relative: boolean;
  speedUmS?: number;
}

/** One call to the stage: every axis is checked before any moves, and speedUmS applies. */
export async function moveStage(stage: Stage, p: MoveRequest, signal?: AbortSignal): Promise<StageStatus> {
  throwIfAborted(signal);
  await stage.move(p.axes, { relative: p.relative, speedUmS: p.speedUmS, signal });
  return stage.status();
}

export async function homeStage(stage: Stage, axes: string[] | undefined, signal?: AbortSignal): Promise<StageStatus> {
  throwIfAborted(signal);
  if (!axes) await stage.home(undefined, { signal });
  else
    for (const a of axes) {
      throwIfAborted(signal);
      await stage.home(a, { signal });
    }
  return stage.status();
}

/**
 * Clears the stage's e-stop latch (home() never does); the axes stay un-homed. The DMD has no
 * latch and stays dark until the next dmd_show.
 */
export async function resetEstop(stage: Stage | null): Promise<{ stage: 'reset' | 'none'; homed: false }> {
  if (!stage) return { stage: 'none', homed: false };
  stage.resetEstop();
  return { stage: 'reset', homed: false };
}
