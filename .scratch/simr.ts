import { SimRenderer, packEmitters } from '../src/camera/sim-render.ts';
const r = new SimRenderer();
console.log('start');
r.render({ emitters: packEmitters([{ x: 10, y: 10, photons: 1000 }]), psf: { shape: 'gauss', width: 2 } as never, width: 300, height: 300, background: 10, seed: 1 }).then((img) => { console.log('done', img.width); return r.close(); }, (e) => console.log('err', e));
setTimeout(() => console.log('timeout'), 20000).unref();
