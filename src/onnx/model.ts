import { readFile, writeFile } from 'node:fs/promises';
import { ModelProtoType } from './onnx-schema.ts';

/** TensorProto.DataType values used here. */
export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
} as const;

export const AttributeType = {
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
} as const;

export interface StringStringEntry {
  key?: string;
  value?: string;
}

export interface OnnxTensor {
  name?: string;
  dims?: number[];
  data_type?: number;
  raw_data?: Uint8Array;
  float_data?: number[];
  int32_data?: number[];
  int64_data?: number[];
  double_data?: number[];
  uint64_data?: number[];
  string_data?: Uint8Array[];
  external_data?: StringStringEntry[];
  data_location?: number;
  doc_string?: string;
}

export interface OnnxDimension {
  dim_value?: number;
  dim_param?: string;
  denotation?: string;
}

export interface OnnxType {
  tensor_type?: { elem_type?: number; shape?: { dim?: OnnxDimension[] } };
  sequence_type?: { elem_type?: OnnxType };
  map_type?: { key_type?: number; value_type?: OnnxType };
  optional_type?: { elem_type?: OnnxType };
  denotation?: string;
}

export interface OnnxValueInfo {
  name?: string;
  type?: OnnxType;
  doc_string?: string;
  metadata_props?: StringStringEntry[];
}

export interface OnnxAttribute {
  name?: string;
  ref_attr_name?: string;
  doc_string?: string;
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: OnnxTensor;
  g?: OnnxGraph;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
  tensors?: OnnxTensor[];
  graphs?: OnnxGraph[];
}

export interface OnnxNode {
  input?: string[];
  output?: string[];
  name?: string;
  op_type?: string;
  domain?: string;
  overload?: string;
  attribute?: OnnxAttribute[];
  doc_string?: string;
  metadata_props?: StringStringEntry[];
}

export interface OnnxGraph {
  node?: OnnxNode[];
  name?: string;
  initializer?: OnnxTensor[];
  doc_string?: string;
  input?: OnnxValueInfo[];
  output?: OnnxValueInfo[];
  value_info?: OnnxValueInfo[];
  quantization_annotation?: Array<{ tensor_name?: string; quant_parameter_tensor_names?: StringStringEntry[] }>;
  metadata_props?: StringStringEntry[];
}

export interface OnnxOpset {
  domain?: string;
  version?: number;
}

export interface OnnxModel {
  ir_version?: number;
  opset_import?: OnnxOpset[];
  producer_name?: string;
  producer_version?: string;
  domain?: string;
  model_version?: number;
  doc_string?: string;
  graph?: OnnxGraph;
  metadata_props?: StringStringEntry[];
}

/** Decode ONNX bytes. Throws a plain Error whose message says the file is not an ONNX model. */
export function decodeModel(bytes: Uint8Array): OnnxModel {
  let msg: ReturnType<typeof ModelProtoType.decode>;
  try {
    msg = ModelProtoType.decode(bytes);
  } catch (err) {
    throw new Error(`not an ONNX model (protobuf decode failed: ${(err as Error).message})`);
  }
  const obj = ModelProtoType.toObject(msg, { longs: Number, arrays: true, defaults: false, oneofs: false }) as OnnxModel;
  if (!obj.graph) throw new Error('not an ONNX model (no graph)');
  return normaliseBytes(obj) as OnnxModel;
}

export function encodeModel(model: OnnxModel): Uint8Array {
  const err = ModelProtoType.verify(model as Record<string, unknown>);
  if (err) throw new Error(`invalid ONNX model: ${err}`);
  return ModelProtoType.encode(ModelProtoType.fromObject(model as Record<string, unknown>)).finish();
}

export async function readModelFile(path: string): Promise<OnnxModel> {
  return decodeModel(await readFile(path));
}

export async function writeModelFile(path: string, model: OnnxModel): Promise<void> {
  await writeFile(path, encodeModel(model));
}

/** Node's protobufjs hands out Buffers; plain Uint8Array views keep equality checks simple. */
function normaliseBytes(v: unknown): unknown {
  if (v instanceof Uint8Array) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) return v.map(normaliseBytes);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = normaliseBytes(x);
    return out;
  }
  return v;
}

// ---- tensors ----

const elementBytes: Record<number, number> = {
  [DataType.FLOAT]: 4,
  [DataType.UINT8]: 1,
  [DataType.INT8]: 1,
  [DataType.INT32]: 4,
  [DataType.INT64]: 8,
  [DataType.DOUBLE]: 8,
};

export function tensorSize(t: OnnxTensor): number {
  return (t.dims ?? []).reduce((a, b) => a * b, 1);
}

function rawView(t: OnnxTensor): DataView | undefined {
  if (t.data_location === 1) throw new Error(`tensor ${t.name}: external data is not supported; save the model with weights inside`);
  if (!t.raw_data || t.raw_data.byteLength === 0) return undefined;
  const n = tensorSize(t);
  const eb = elementBytes[t.data_type ?? 0];
  if (eb !== undefined && t.raw_data.byteLength !== n * eb) {
    throw new Error(`tensor ${t.name}: raw_data has ${t.raw_data.byteLength} bytes, expected ${n * eb}`);
  }
  return new DataView(t.raw_data.buffer, t.raw_data.byteOffset, t.raw_data.byteLength);
}

/** Values of a numeric tensor as float64 numbers (FLOAT, DOUBLE, INT8, UINT8, INT32, INT64). */
export function tensorValues(t: OnnxTensor): Float64Array {
  const n = tensorSize(t);
  const out = new Float64Array(n);
  const view = rawView(t);
  const dt = t.data_type;
  if (view) {
    for (let i = 0; i < n; i++) {
      switch (dt) {
        case DataType.FLOAT:
          out[i] = view.getFloat32(i * 4, true);
          break;
        case DataType.DOUBLE:
          out[i] = view.getFloat64(i * 8, true);
          break;
        case DataType.INT8:
          out[i] = view.getInt8(i);
          break;
        case DataType.UINT8:
          out[i] = view.getUint8(i);
          break;
        case DataType.INT32:
          out[i] = view.getInt32(i * 4, true);
          break;
        case DataType.INT64:
          out[i] = Number(view.getBigInt64(i * 8, true));
          break;
        default:
          throw new Error(`tensor ${t.name}: data type ${dt} not supported`);
      }
    }
    return out;
  }
  const src =
    dt === DataType.FLOAT
      ? t.float_data
      : dt === DataType.DOUBLE
        ? t.double_data
        : dt === DataType.INT64
          ? t.int64_data
          : dt === DataType.INT8 || dt === DataType.UINT8 || dt === DataType.INT32
            ? t.int32_data
            : undefined;
  if (src === undefined) throw new Error(`tensor ${t.name}: data type ${dt} not supported`);
  if (src.length !== n) throw new Error(`tensor ${t.name}: ${src.length} values for ${n} elements`);
  for (let i = 0; i < n; i++) out[i] = src[i];
  return out;
}

type TypedData = Float32Array | Int8Array | Uint8Array | Int32Array | BigInt64Array | Float64Array;

/** A tensor with its values in raw_data (little-endian, as ONNX requires). */
export function makeTensor(name: string, dims: number[], values: TypedData): OnnxTensor {
  const dataType =
    values instanceof Float32Array
      ? DataType.FLOAT
      : values instanceof Int8Array
        ? DataType.INT8
        : values instanceof Uint8Array
          ? DataType.UINT8
          : values instanceof Int32Array
            ? DataType.INT32
            : values instanceof BigInt64Array
              ? DataType.INT64
              : DataType.DOUBLE;
  const n = dims.reduce((a, b) => a * b, 1);
  if (n !== values.length) throw new Error(`tensor ${name}: ${values.length} values for dims [${dims}]`);
  const bytes = new Uint8Array(values.byteLength);
  bytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  // all supported hosts are little-endian, so the typed array's bytes are the wire bytes
  return { name, dims: [...dims], data_type: dataType, raw_data: bytes };
}

export function int64Tensor(name: string, dims: number[], values: number[]): OnnxTensor {
  return makeTensor(name, dims, BigInt64Array.from(values.map((v) => BigInt(v))));
}

// ---- attributes, value infos ----

export function getAttribute(node: OnnxNode, name: string): OnnxAttribute | undefined {
  return node.attribute?.find((a) => a.name === name);
}

export function attrInt(node: OnnxNode, name: string, fallback: number): number {
  return getAttribute(node, name)?.i ?? fallback;
}

export function attrInts(node: OnnxNode, name: string, fallback: number[]): number[] {
  const a = getAttribute(node, name);
  return a?.ints && a.ints.length > 0 ? a.ints : fallback;
}

export function attrString(node: OnnxNode, name: string, fallback: string): string {
  const s = getAttribute(node, name)?.s;
  return s ? new TextDecoder().decode(s) : fallback;
}

export const attr = {
  int: (name: string, i: number): OnnxAttribute => ({ name, type: AttributeType.INT, i }),
  ints: (name: string, ints: number[]): OnnxAttribute => ({ name, type: AttributeType.INTS, ints }),
  float: (name: string, f: number): OnnxAttribute => ({ name, type: AttributeType.FLOAT, f }),
  floats: (name: string, floats: number[]): OnnxAttribute => ({ name, type: AttributeType.FLOATS, floats }),
  string: (name: string, s: string): OnnxAttribute => ({ name, type: AttributeType.STRING, s: new TextEncoder().encode(s) }),
};

/** A tensor value info; a string dimension is symbolic (dynamic). */
export function makeValueInfo(name: string, elemType: number, shape: Array<number | string>): OnnxValueInfo {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: elemType,
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

/** The ai.onnx opset a model imports (the empty or "ai.onnx" domain). */
export function defaultOpset(model: OnnxModel): number | undefined {
  return model.opset_import?.find((o) => !o.domain || o.domain === 'ai.onnx')?.version;
}
