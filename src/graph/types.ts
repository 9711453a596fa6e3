// Types shared by the graph builder, its serialiser, the gradient table and the runtime.

/** Element types a graph tensor may have. */
export type DType = 'float32' | 'float64' | 'int64' | 'int32' | 'bool';

/** One dimension of a shape: a number, or a string naming a symbolic dimension (e.g. 'N', the batch). */
export type Dim = number | string;

/** A value in a graph: the output of an op, an input, a parameter or a constant. Immutable. */
export interface Tensor {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly Dim[];
}

/** A trainable parameter: a float32 Tensor with its initial value and its optimizer group. */
export interface Parameter extends Tensor {
  readonly init: Float32Array;
  readonly group: string;
}

/** The typed arrays that hold tensor data, by dtype. */
export type TypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

/** Tensor data crossing the runtime boundary: a flat row-major array and its dims. */
export interface TensorData {
  data: TypedArray;
  dims: number[];
  dtype: DType;
}

/** An ONNX attribute value, tagged with its ONNX attribute type. */
export type AttrValue =
  | { type: 'int'; value: number }
  | { type: 'ints'; value: number[] }
  | { type: 'float'; value: number }
  | { type: 'floats'; value: number[] }
  | { type: 'string'; value: string };

/** One ONNX node as the builder records it. `inputs`/`outputs` are tensor names ('' = omitted optional input). */
export interface GraphNode {
  readonly name: string;
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: Readonly<Record<string, AttrValue>>;
  /** The key of this node's rule in the gradient table when it differs from `op` (e.g. 'Detach' for an Identity). */
  readonly gradKey?: string;
}

/** Constant data stored in a graph (serialised as an ONNX initializer). */
export interface ConstantData {
  readonly data: TypedArray;
  readonly dtype: DType;
  readonly shape: readonly number[];
}

/** Number of elements of a static shape. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Formats a shape for error messages: [N,3,300,300]. */
export function fmtShape(shape: readonly Dim[]): string {
  return `[${shape.join(',')}]`;
}

/** Allocates a typed array of the given dtype and length. */
export function allocate(dtype: DType, length: number): TypedArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(length);
    case 'float64':
      return new Float64Array(length);
    case 'int32':
      return new Int32Array(length);
    case 'int64':
      return new BigInt64Array(length);
    case 'bool':
      return new Uint8Array(length);
  }
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64';
}

/** ONNX TensorProto.DataType codes. */
export const ONNX_TYPE: Record<DType, number> = { float32: 1, int32: 6, int64: 7, bool: 9, float64: 11 };

/**
 * A finished graph as serialisation and analysis read it: what `Graph` (builder.ts) exposes, without its
 * builder methods, so that readers of graphs need not depend on the builder.
 */
export interface GraphView {
  readonly name: string;
  readonly inputs: readonly Tensor[];
  readonly parameters: readonly Parameter[];
  readonly constants: ReadonlyMap<string, ConstantData>;
  readonly nodes: readonly GraphNode[];
  readonly outputs: readonly { name: string; tensor: Tensor }[];
  /** A tensor by name (undefined when the graph has none by that name). */
  tensor(name: string): Tensor | undefined;
}
