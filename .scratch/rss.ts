import { benchFrames } from '../src/commands/bench.ts';
import { loadSettings } from '../src/config/load.ts';
import { createReconstructor } from '../src/inference/registry.ts';
const mb = () => (process.resourceUsage().maxRSS / 1024).toFixed(0) + ' MB peak, ' + (process.memoryUsage().rss / 2 ** 20).toFixed(0) + ' MB now';
console.log('start', mb());
const frames = benchFrames(1456, 1088, 4);
console.log('frames', mb());
const s = loadSettings();
const r = await createReconstructor('damn', s);
console.log('engine', mb());
for (let i = 0; i < 4; i++) { await r.process({ image: frames[i], postprocess: s.pipeline.postprocess }); console.log('frame', i, mb()); }
await r.close();
