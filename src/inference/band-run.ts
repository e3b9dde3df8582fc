/**
 * Stream a frame through a network cut at its levels (band-plan.ts) in row bands.
 *
 * Pull order: the last part is asked for the next band of output rows; before it runs, each
 * part it reads is run just as far down the frame as those rows need (itself pulling from its
 * own inputs). Every part's output rows are kept in a store until the last part that reads them
 * has moved past, so what is held is about a band and the contexts of each level, not the
 * frame's activations. A part may run a band in column tiles, each with its own columns of
 * context, to bound its memory. A part run on frame rows [P, Q) keeps only the rows its context
 * makes exact ([P + above, Q − below), or to the frame's edge where P or Q is one), so the
 * streamed output equals the whole network's.
 */
import type { Image } from '../optics/image.ts';
import type { BandGraph, LevelTensor } from './band-plan.ts';
import type { NchwTensor } from './runtime/model-session.ts';
import { contractAffine, cutNormalised, type TileConsumer } from './tiling.ts';

/** Runs part `index` of the graph on the given inputs; returns its output. */
export type PartRunner = (index: number, feeds: Record<string, NchwTensor>) => Promise<NchwTensor>;

export interface BandRunOptions {
  graph: BandGraph;
  /** frame rows per band of output (a multiple of `multiple`) */
  rows: number;
  /** column tiles each part runs a band in, by part (default: 1, the full width) */
  columns?: number[];
  /** band boundaries and the padded frame are multiples of this (≥ the graph's own multiple) */
  multiple: number;
  /** camera rows beyond each band's core the consumer reads (exact too): peak tests at a core's edge */
  context: number;
}

export interface BandRunStats {
  /** output bands handed to the consumer */
  bands: number;
  /** network work done over the whole network's on the padded frame, weighted by each part's MACs (≥ 1) */
  overhead: number;
}

const roundUp = (v: number, m: number) => Math.ceil(v / m) * m;
const roundDown = (v: number, m: number) => Math.floor(v / m) * m;

/** Rows [lo, hi) (frame rows) of one level's tensor, as a list of NCHW chunks. */
class RowStore {
  /** each chunk: a part's whole output (frame rows [from, from + rows·stride)) of which [lo, hi) is kept */
  private chunks: Array<{ lo: number; hi: number; from: number; rows: number; data: Float32Array | Uint8Array }> = [];
  /** frame rows computed so far: [0, done) has been stored (some of it since dropped) */
  done = 0;

  constructor(
    readonly t: LevelTensor,
    /** the tensor's own width */
    readonly width: number,
  ) {}

  /** Keep frame rows [lo, hi) of `out`, a part's output that starts at frame row `from`. */
  append(lo: number, hi: number, from: number, out: NchwTensor): void {
    if (lo !== this.done) throw new Error(`${this.t.name}: rows ${lo}.. appended after ${this.done}`);
    this.chunks.push({ lo, hi, from, rows: out.dims[2], data: out.data });
    this.done = hi;
  }

  /** Forget rows above `row` (frame rows): no reader needs them any more. */
  drop(row: number): void {
    this.chunks = this.chunks.filter((c) => c.hi > row);
  }

  /** Frame rows [p, q) and columns [x0, x1) as an NCHW tensor (one image). */
  read(p: number, q: number, x0: number, x1: number): NchwTensor {
    const s = this.t.stride;
    const c = this.t.channels;
    const w = this.width;
    const r0 = p / s;
    const rows = (q - p) / s;
    const c0 = x0 / s;
    const cols = (x1 - x0) / s;
    const first = this.chunks[0];
    if (!first || first.lo > p || this.done < q) throw new Error(`${this.t.name}: rows ${p}..${q} are not held`);
    const out = this.t.uint8 ? new Uint8Array(c * rows * cols) : new Float32Array(c * rows * cols);
    for (const ch of this.chunks) {
      const a = Math.max(ch.lo / s, r0);
      const b = Math.min(ch.hi / s, r0 + rows);
      if (a >= b) continue;
      const base = ch.from / s;
      for (let k = 0; k < c; k++) {
        if (cols === w) {
          out.set(ch.data.subarray((k * ch.rows + a - base) * w, (k * ch.rows + b - base) * w), (k * rows + a - r0) * w);
          continue;
        }
        for (let r = a; r < b; r++) {
          const src = (k * ch.rows + r - base) * w + c0;
          out.set(ch.data.subarray(src, src + cols), (k * rows + r - r0) * cols);
        }
      }
    }
    return { data: out, dims: [1, c, rows, cols] };
  }
}

/**
 * Normalise the frame (the contract's affine map), stream it through the parts and hand every
 * band of output to `consume` top to bottom, as windows (one per column tile of the last part)
 * whose cores are the band.
 */
export async function runBands(frame: Image, o: BandRunOptions, run: PartRunner, consume: TileConsumer): Promise<BandRunStats> {
  const g = o.graph;
  const m = Math.max(o.multiple, g.multiple);
  if (m % g.multiple !== 0) throw new Error(`band multiple ${o.multiple} is not a multiple of the graph's ${g.multiple}`);
  const rows = Math.max(m, roundDown(o.rows, m));
  const W = roundUp(frame.width, m);
  const H = roundUp(frame.height, m);
  const affine = contractAffine(frame);
  const last = g.parts.length - 1;
  const producer = new Map(g.parts.map((p, k) => [p.output, k]));
  const stores = new Map<string, RowStore>();
  for (const p of g.parts.slice(0, last)) stores.set(p.output, new RowStore(g.tensors[p.output], W / g.tensors[p.output].stride));
  const readers = new Map<string, number[]>();
  g.parts.forEach((p, k) => {
    for (const i of p.inputs) readers.set(i, [...(readers.get(i) ?? []), k]);
  });
  // the last part's output must be exact `context` camera rows beyond each core too
  const above = g.parts.map((p, k) => p.above + (k === last ? o.context : 0));
  const below = g.parts.map((p, k) => p.below + (k === last ? o.context : 0));
  const done = g.parts.map(() => 0);
  const firstRow = (k: number) => Math.max(0, roundDown(done[k] - above[k], g.parts[k].multiple));
  let work = 0;
  let bands = 0;

  const inputRows = (p: number, q: number, x0: number, x1: number): NchwTensor => {
    const data = new Float32Array((q - p) * (x1 - x0));
    cutNormalised(frame, affine, x0, p, x1 - x0, q - p, data);
    return { data, dims: [1, 1, q - p, x1 - x0] };
  };
  // a part may run each band in column tiles (bandShape: the hungriest parts, to bound memory):
  // cores split evenly on the part's grid, each tile with the part's own context (and the
  // consumer's, on the last part)
  const tilesOf = g.parts.map((part, k) => {
    const n = Math.max(1, Math.min(o.columns?.[k] ?? 1, Math.floor(W / part.multiple)));
    const pm = part.multiple;
    const cuts = Array.from({ length: n + 1 }, (_, j) => (j === n ? W : roundDown((j * W) / n, pm)));
    const extra = k === last ? o.context : 0;
    return Array.from({ length: n }, (_, j) => ({
      coreStart: cuts[j],
      coreEnd: cuts[j + 1],
      start: Math.max(0, roundDown(cuts[j] - part.left - extra, pm)),
      end: Math.min(W, roundUp(cuts[j + 1] + part.right + extra, pm)),
    }));
  });

  // rows [d, e) of part k's output, pulling its inputs as far as they are needed
  const runPart = async (k: number, e: number): Promise<void> => {
    const part = g.parts[k];
    const d = done[k];
    const p = firstRow(k);
    const q = Math.min(H, roundUp(e + below[k], part.multiple));
    for (const name of part.inputs) {
      if (name === g.input) continue;
      const from = producer.get(name);
      const store = stores.get(name);
      if (from === undefined || !store) throw new Error(`part ${k} reads ${name}, which no earlier part makes`);
      if (store.done < q) await runPart(from, Math.min(H, roundUp(q, m)));
    }
    const t = g.tensors[part.output];
    const s = t.stride;
    const tiles = tilesOf[k];
    // an intermediate part run in tiles: its kept rows are assembled across the width for the store
    const whole =
      k !== last && tiles.length > 1
        ? t.uint8
          ? new Uint8Array((t.channels * (e - d) * W) / (s * s))
          : new Float32Array((t.channels * (e - d) * W) / (s * s))
        : undefined;
    for (const c of tiles) {
      const feeds: Record<string, NchwTensor> = {};
      for (const name of part.inputs) {
        feeds[name] = name === g.input ? inputRows(p, q, c.start, c.end) : (stores.get(name) as RowStore).read(p, q, c.start, c.end);
      }
      const out = await run(k, feeds);
      work += part.macsPerPixel * (q - p) * (c.end - c.start);
      const [, oc, oh, ow] = out.dims;
      if (oh * s !== q - p || ow * s !== c.end - c.start || oc !== t.channels) {
        throw new Error(
          `part ${k} returned [${out.dims}] for frame rows ${p}..${q}, columns ${c.start}..${c.end}; expected [1,${t.channels},${(q - p) / s},${(c.end - c.start) / s}]`,
        );
      }
      if (k === last) {
        const window = {
          x: { start: c.start, size: c.end - c.start, coreStart: c.coreStart, coreEnd: c.coreEnd },
          y: { start: p, size: q - p, coreStart: d, coreEnd: e },
        };
        consume(window, out.data as Float32Array, ow, oh);
      } else if (!whole) (stores.get(part.output) as RowStore).append(d, e, p, out);
      else {
        const r0 = (d - p) / s;
        const nRows = (e - d) / s;
        const c0 = (c.coreStart - c.start) / s;
        const nCols = (c.coreEnd - c.coreStart) / s;
        const w = W / s;
        for (let ch = 0; ch < oc; ch++) {
          for (let r = 0; r < nRows; r++) {
            const src = (ch * oh + r0 + r) * ow + c0;
            whole.set(out.data.subarray(src, src + nCols), (ch * nRows + r) * w + c.coreStart / s);
          }
        }
      }
    }
    if (whole) (stores.get(part.output) as RowStore).append(d, e, d, { data: whole, dims: [1, t.channels, (e - d) / s, W / s] });
    if (k === last) bands++;
    done[k] = e;
    for (const name of part.inputs) {
      const st = stores.get(name);
      if (st) st.drop(Math.min(...(readers.get(name) ?? []).map(firstRow)));
    }
  };

  while (done[last] < H) await runPart(last, Math.min(H, done[last] + rows));
  const whole = g.parts.reduce((s, p) => s + p.macsPerPixel, 0) * W * H;
  return { bands, overhead: whole > 0 ? work / whole : 1 };
}
