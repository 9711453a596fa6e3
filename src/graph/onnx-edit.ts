// Reading and editing ONNX ModelProtos after they are built: initializers as typed arrays, who produces and who
// consumes a tensor, renaming tensors, adding nodes, and putting nodes back in topological order. Passes that
// rewrite a finished model (batch-norm folding and the QDQ writer of src/nn/quantize, appending post-processing
// to an ONNX file in src/nn/export.ts) work on these, not on the builder, since their input may be any ONNX file.
import { ONNX, type onnx } from './onnx.js';

/** An int64 field of a decoded proto: a number, or a Long object when protobufjs decodes a large value. */
type Int64 = number | { toNumber(): number };

/** An int64 proto field as a number. */
export function int64(v: Int64 | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

/** ONNX TensorProto.DataType codes the editors use. */
export const TensorType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
} as const;

/** A tensor's dims as numbers. */
export function tensorDims(t: onnx.ITensorProto): number[] {
  return (t.dims ?? []).map(int64);
}

/** A float32 initializer's values (from raw_data or float_data); errors name the tensor. */
export function floatValues(t: onnx.ITensorProto): Float32Array {
  if (t.dataType !== TensorType.FLOAT) throw new Error(`initializer '${t.name}' is of ONNX type ${t.dataType}, not float32`);
  const n = tensorDims(t).reduce((a, b) => a * b, 1);
  if (t.rawData && t.rawData.byteLength > 0) {
    if (t.rawData.byteLength !== 4 * n) throw new Error(`initializer '${t.name}': ${t.rawData.byteLength} bytes of raw data for ${n} float32 values`);
    const copy = new Uint8Array(t.rawData); // aligned copy
    return new Float32Array(copy.buffer, 0, n);
  }
  const f = t.floatData ?? [];
  if (f.length !== n) throw new Error(`initializer '${t.name}': ${f.length} float values for dims [${tensorDims(t)}]`);
  return Float32Array.from(f);
}

/** A typed array as the bytes an initializer's raw_data holds (little-endian, as every platform we run on). */
function bytesOf(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** An initializer of `data` (float32, int32, int8 or uint8 by the array's type) with `dims`. */
export function initializer(name: string, dims: readonly number[], data: Float32Array | Int32Array | Int8Array | Uint8Array): onnx.ITensorProto {
  const dataType = data instanceof Float32Array ? TensorType.FLOAT : data instanceof Int32Array ? TensorType.INT32 : data instanceof Int8Array ? TensorType.INT8 : TensorType.UINT8;
  const n = dims.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new Error(`initializer '${name}': ${data.length} values for dims [${dims}]`);
  return { name, dims: [...dims], dataType, rawData: bytesOf(data) };
}

/** An attribute's int value (or `fallback` when the node has none). */
export function intAttribute(node: onnx.INodeProto, name: string, fallback: number): number {
  const a = node.attribute?.find((x) => x.name === name);
  return a ? int64(a.i) : fallback;
}

/** An attribute's ints (or `fallback`). */
export function intsAttribute(node: onnx.INodeProto, name: string, fallback: number[]): number[] {
  const a = node.attribute?.find((x) => x.name === name);
  return a ? (a.ints ?? []).map(int64) : fallback;
}

/** An attribute's float value (or `fallback`). */
export function floatAttribute(node: onnx.INodeProto, name: string, fallback: number): number {
  const a = node.attribute?.find((x) => x.name === name);
  return a ? (a.f ?? 0) : fallback;
}

/** An INT attribute. */
export function intAttr(name: string, value: number): onnx.IAttributeProto {
  return { name, type: ONNX.AttributeProto.AttributeType.INT, i: value };
}

/**
 * A graph being edited: the proto's nodes, initializers by name, and fresh names. Lookups (producer, consumers)
 * are computed when asked, so that edits never leave a stale index behind.
 */
export class GraphEditor {
  readonly graph: onnx.IGraphProto;
  readonly initializers: Map<string, onnx.ITensorProto>;
  private readonly names = new Set<string>();

  constructor(graph: onnx.IGraphProto) {
    this.graph = graph;
    graph.node ??= [];
    graph.initializer ??= [];
    graph.output ??= [];
    graph.input ??= [];
    this.initializers = new Map(graph.initializer.map((t) => [t.name!, t]));
    for (const n of graph.node) {
      if (n.name) this.names.add(n.name);
      for (const t of [...(n.input ?? []), ...(n.output ?? [])]) this.names.add(t);
    }
    for (const t of this.initializers.keys()) this.names.add(t);
    for (const v of [...graph.input, ...graph.output]) this.names.add(v.name!);
  }

  get nodes(): onnx.INodeProto[] {
    return this.graph.node!;
  }

  /** A name no tensor or node of the graph has, built from `base`. */
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  /** The node that outputs `tensor`, if any. */
  producer(tensor: string): onnx.INodeProto | undefined {
    return this.nodes.find((n) => n.output?.includes(tensor));
  }

  /** Every node that reads `tensor`, in graph order. */
  consumers(tensor: string): onnx.INodeProto[] {
    return this.nodes.filter((n) => n.input?.includes(tensor));
  }

  /** Map of tensor -> the nodes reading it (one pass; for loops over many tensors). */
  consumerIndex(): Map<string, onnx.INodeProto[]> {
    const out = new Map<string, onnx.INodeProto[]>();
    for (const n of this.nodes) for (const t of n.input ?? []) if (t) (out.get(t) ?? out.set(t, []).get(t)!).push(n);
    return out;
  }

  /** Whether `tensor` is one of the graph's outputs. */
  isOutput(tensor: string): boolean {
    return this.graph.output!.some((o) => o.name === tensor);
  }

  /** Adds (or replaces) an initializer. */
  setInitializer(t: onnx.ITensorProto): void {
    this.initializers.set(t.name!, t);
    this.names.add(t.name!);
  }

  /** Removes an initializer. */
  deleteInitializer(name: string): void {
    this.initializers.delete(name);
  }

  /** Appends a node (order is restored by `finish`). */
  addNode(node: onnx.INodeProto): onnx.INodeProto {
    if (node.name) this.names.add(node.name);
    this.nodes.push(node);
    return node;
  }

  /** Removes a node. */
  removeNode(node: onnx.INodeProto): void {
    const i = this.nodes.indexOf(node);
    if (i >= 0) this.nodes.splice(i, 1);
  }

  /** Makes every reader of `from` among `readers` (default: all nodes) read `to` instead. */
  redirect(from: string, to: string, readers: readonly onnx.INodeProto[] = this.nodes): void {
    for (const n of readers) n.input = (n.input ?? []).map((t) => (t === from ? to : t));
  }

  /** Renames a tensor everywhere: node inputs and outputs, graph outputs. */
  rename(from: string, to: string): void {
    for (const n of this.nodes) {
      n.input = (n.input ?? []).map((t) => (t === from ? to : t));
      n.output = (n.output ?? []).map((t) => (t === from ? to : t));
    }
    for (const o of this.graph.output!) if (o.name === from) o.name = to;
    this.names.add(to);
  }

  /**
   * Writes the initializers back (only those some node reads) and sorts the nodes topologically (ONNX requires
   * it); a cycle, or a node reading a tensor nothing makes, is an error naming the node.
   */
  finish(): onnx.IGraphProto {
    const available = new Set<string>(['', ...this.graph.input!.map((v) => v.name!), ...this.initializers.keys()]);
    const pending = [...this.nodes];
    const sorted: onnx.INodeProto[] = [];
    while (pending.length) {
      const before = pending.length;
      for (let i = 0; i < pending.length; ) {
        const n = pending[i]!;
        if ((n.input ?? []).every((t) => available.has(t))) {
          sorted.push(n);
          for (const t of n.output ?? []) available.add(t);
          pending.splice(i, 1);
        } else i++;
      }
      if (pending.length === before) {
        const n = pending[0]!;
        const missing = (n.input ?? []).filter((t) => !available.has(t));
        throw new Error(`ONNX graph '${this.graph.name}': node '${n.name}' (${n.opType}) reads ${missing.map((t) => `'${t}'`).join(', ')}, which no node, input or initializer makes`);
      }
    }
    this.graph.node = sorted;
    const used = new Set(sorted.flatMap((n) => n.input ?? []));
    this.graph.initializer = [...this.initializers.values()].filter((t) => used.has(t.name!));
    return this.graph;
  }
}

/** Decodes ONNX bytes; `name` is used in the error. */
export function decodeModel(bytes: Uint8Array, name: string): onnx.ModelProto {
  try {
    return ONNX.ModelProto.decode(bytes);
  } catch (e) {
    throw new Error(`${name}: not a readable ONNX model (${(e as Error).message})`);
  }
}

/** Encodes a ModelProto. */
export function encodeModel(model: onnx.IModelProto): Uint8Array {
  return ONNX.ModelProto.encode(model).finish();
}

/** A model's metadata_props as a record. */
export function modelMetadata(model: onnx.IModelProto): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of model.metadataProps ?? []) if (p.key) out[p.key] = p.value ?? '';
  return out;
}
