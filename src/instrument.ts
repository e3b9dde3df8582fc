import { createFrameSource } from './camera/index.ts';
import type { FrameSource } from './camera/types.ts';
import type { Settings } from './config/schema.ts';
import { type OpenedDmd, openDmd } from './hardware/dmd/open.ts';
import type { FaultRegistry } from './hardware/faults.ts';
import type { DmdCameraMapping } from './hardware/patterns.ts';
import { type CreatedStage, createStage } from './hardware/stage/index.ts';
import type { Logger } from './log.ts';
import { fitMapping } from './selftest.ts';

/**
 * The physical (or simulated) instrument: camera, DMD, stage, and how DMD mirrors land on camera
 * pixels. Simulated parts are coupled here — the simulated camera images exactly the mask the
 * simulated DMD decoded and shifts with the simulated stage — so the drivers on top are the ones
 * that run on the board.
 */
export interface Instrument {
  source: FrameSource;
  dmd: OpenedDmd | null;
  stage: CreatedStage;
  camera: { width: number; height: number };
  mapping(): DmdCameraMapping;
  close(): Promise<void>;
}

export function cameraSize(s: Settings): { width: number; height: number } {
  const c = s.camera;
  return c.type === 'file' || c.type === 'indi' ? { width: 0, height: 0 } : { width: c.width, height: c.height };
}

export async function openInstrument(settings: Settings, log: Logger, faults: FaultRegistry): Promise<Instrument> {
  let dmd: OpenedDmd | null = null;
  let stage: CreatedStage = { stage: null };
  // A device that fails to open is a recorded fault, not a reason to stop the instrument.
  try {
    dmd = await openDmd(settings.hardware.dmd, log.child({ part: 'dmd' }), faults);
  } catch (e) {
    faults.record('dmd', e);
    log.error({ err: (e as Error).message }, 'DMD not available');
  }
  try {
    stage = await createStage(settings.hardware.stage, log, { onFault: (d, e) => faults.record(d, e) });
  } catch (e) {
    faults.record('stage', e);
    log.error({ err: (e as Error).message }, 'stage not available');
  }
  const camera = cameraSize(settings);
  const mapping = (): DmdCameraMapping => {
    const d = settings.hardware.dmd;
    if (d.type === 'none' || !dmd) return {};
    const photons = d.photonsPerMirror;
    if (d.mapping) return { ...d.mapping, photons };
    return { ...fitMapping(dmd.dmd, camera), photons };
  };
  const dmdSceneFn = dmd?.sim?.scene(mapping());
  const twin = stage.twin;
  const source = createFrameSource(settings.camera, log.child({ part: 'camera' }), {
    // a dark DMD lights nothing; the simulated sample then shows its own random emitters
    scene: dmdSceneFn
      ? () => {
          const s = dmdSceneFn();
          return s && s.emitters.length > 0 ? s : null;
        }
      : undefined,
    offset: twin ? () => twin.offsetPx() : undefined,
    faults,
  });
  return {
    source,
    dmd,
    stage,
    camera,
    mapping,
    async close() {
      await stage.stage?.park().catch((e: Error) => log.warn({ err: e.message }, 'stage did not park'));
      await stage.stage?.close().catch(() => undefined);
      await dmd?.dmd.blank().catch(() => undefined);
      await dmd?.dmd.close().catch(() => undefined);
    },
  };
}
