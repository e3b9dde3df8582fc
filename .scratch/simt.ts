import { SimCamera } from '../src/camera/sim.ts';
import { parseSettings } from '../src/config/load.ts';
const s = parseSettings({ camera: { type: 'sim', width: 1456, height: 1088, fps: 2 } });
if (s.camera.type !== 'sim') throw new Error();
const c = new SimCamera(s.camera);
for (let i = 0; i < 3; i++) { const t = performance.now(); const f = await c.capture(); console.log((performance.now() - t).toFixed(0), 'ms', f.truth?.length); }
