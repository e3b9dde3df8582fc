/**
 * Couples a simulated DMD to the simulated camera: the camera images exactly the mask the DMD
 * model decoded from the driver's bytes (not what the driver thinks it sent), mapped onto camera
 * pixels. Matches the SimCamera option `scene?: () => { emitters: Emitter[] } | null`.
 */
import type { Emitter } from '../../optics/emitter.ts';
import { type DmdCameraMapping, type Mask, maskToEmitters } from '../patterns.ts';

export interface ShowsMask {
  shownMask(): Mask | null;
}

export function dmdScene(model: ShowsMask, mapping: DmdCameraMapping = {}): () => { emitters: Emitter[] } | null {
  let last: Mask | null = null;
  let emitters: Emitter[] = [];
  return () => {
    const mask = model.shownMask();
    if (mask === null) return null;
    // models cache their decoded mask, so identity tells us when to re-map
    if (mask !== last) {
      emitters = maskToEmitters(mask, mapping);
      last = mask;
    }
    return { emitters };
  };
}
