import {
  DataType,
  makeTensor,
  makeValueInfo,
  type OnnxAttribute,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
} from './model.ts';

/** Builds small ONNX graphs in code: test fixtures and graph surgery helpers. */
export class GraphBuilder {
  private readonly nodes: OnnxNode[] = [];
  private readonly initializers: OnnxTensor[] = [];
  private readonly inputs: OnnxValueInfo[] = [];
  private readonly outputs: OnnxValueInfo[] = [];
  private counter = 0;

  constructor(private readonly name = 'graph') {}

  input(name: string, shape: Array<number | string>, elemType: number = DataType.FLOAT): string {
    this.inputs.push(makeValueInfo(name, elemType, shape));
    return name;
  }

  output(name: string, shape: Array<number | string>, elemType: number = DataType.FLOAT): string {
    this.outputs.push(makeValueInfo(name, elemType, shape));
    return name;
  }

  constant(name: string, dims: number[], values: Float32Array | Int8Array | Uint8Array | Int32Array | BigInt64Array): string {
    this.initializers.push(makeTensor(name, dims, values));
    return name;
  }

  /** Adds a node; returns its first output name (generated unless given). */
  node(opType: string, inputs: string[], attributes: OnnxAttribute[] = [], outputs?: string[], domain?: string): string {
    const id = this.counter++;
    const outs = outputs ?? [`${opType.toLowerCase()}_${id}`];
    const node: OnnxNode = { op_type: opType, name: `${opType}_${id}`, input: inputs, output: outs, attribute: attributes };
    if (domain) node.domain = domain;
    this.nodes.push(node);
    return outs[0];
  }

  build(opset = 13, producer = 'rayleigh'): OnnxModel {
    return {
      ir_version: 8,
      producer_name: producer,
      opset_import: [{ domain: '', version: opset }],
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    };
  }
}
