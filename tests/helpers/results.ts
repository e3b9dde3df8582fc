import { inThread } from '../../src/inference/in-thread.ts';
import type { Emitter } from '../../src/optics/emitter.ts';
import type { Image } from '../../src/optics/image.ts';
import { type ImageProducts, Pipeline } from '../../src/pipeline/pipeline.ts';
import type { FrameResult } from '../../src/pipeline/types.ts';

export interface SyntheticResultOptions {
  seq?: number;
  stream?: string;
  truth?: Emitter[];
  /** products to make: default previews and the 16-bit image */
  products?: Partial<ImageProducts>;
  threshold?: number;
}

/**
 * A FrameResult made by the real pipeline and frame path from a camera frame and the map an engine
 * "returns" for it, so consumers are tested against what the daemon really produces.
 */
export async function resultFor(input: Image, output: Image, o: SyntheticResultOptions = {}): Promise<FrameResult> {
  const scale = output.width / input.width;
  const engine = inThread({
    id: 'damn-int8',
    scale,
    fingerprint: 'deadbeef',
    provider: 'cpu',
    reconstruct: async () => ({ width: output.width, height: output.height, data: Float32Array.from(output.data) }),
    close: async () => undefined,
  });
  const products: ImageProducts = {
    image: { enabled: true, maxRate: 1000, maxEdge: 4096, maxBytes: 1 << 24 },
    accumulate: { enabled: false, frames: 1, seconds: 1, everyMs: 1000, maxEdge: 64, maxBytes: 1 << 20 },
    previews: { everyMs: 0, maxEdge: 4096, gamma: 0.5 },
    bytesPerSecond: Number.POSITIVE_INFINITY,
    ...o.products,
  };
  const p = new Pipeline({
    stream: o.stream ?? 'main',
    queueSize: 1,
    reconstructor: engine,
    postprocess: { threshold: o.threshold ?? 0.1, minDistance: 2, maxLocalizations: 1000 },
    products,
  });
  const seq = o.seq ?? 1;
  return p.processOne({ seq, timestamp: 1_700_000_000_000 + seq, image: input, source: 'sim', truth: o.truth });
}
