// Reading an ONNX model file: bounded and checked like every model file (src/io/file-kind.ts), decoded with the
// protobuf types of src/graph/onnx.ts, and described: its metadata (where ssd-ts keeps the model config), its
// inputs and outputs with their element types and shapes, and whether it holds quantized (QDQ) operators.
import type { onnx } from '../graph/onnx.js';
import { decodeModel, int64, modelMetadata } from '../graph/onnx-edit.js';
import { detectModelFileKind, readModelFile, wrongKindError, type ModelFileOptions } from './file-kind.js';

/** An input or output of an ONNX graph: name, ONNX element type code and dims (a string for a symbolic one). */
export interface OnnxValueInfo {
  name: string;
  elemType: number;
  dims: Array<number | string>;
}

/** An ONNX model file, decoded. */
export interface OnnxModelFile {
  /** The file's name as given (used in messages). */
  name: string;
  /** The file's bytes, as read. */
  bytes: Uint8Array;
  model: onnx.ModelProto;
  /** metadata_props as a record. */
  metadata: Record<string, string>;
  /** Graph inputs that are not initializers (what a run feeds). */
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  /** Number of QuantizeLinear and DequantizeLinear nodes (0 for a float model). */
  quantizeNodes: number;
}

/** Options of {@link readOnnxModelFile}. */
export interface ReadOnnxOptions extends ModelFileOptions {
  /** Name used in messages (default: the path, or '<buffer>'). */
  name?: string;
}

function valueInfo(v: onnx.IValueInfoProto): OnnxValueInfo {
  const t = v.type?.tensorType;
  return {
    name: v.name ?? '',
    elemType: t?.elemType ?? 0,
    dims: (t?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : d.dimValue !== null && d.dimValue !== undefined ? int64(d.dimValue) : '?')),
  };
}

/**
 * Reads an ONNX model from a path or from its bytes. A path must be a regular file within `options.maxBytes`
 * (2 GiB by default); a file of another kind (safetensors, PyTorch) is refused naming what it is; bytes that do not
 * decode as an ONNX ModelProto are an error naming the file.
 */
export function readOnnxModelFile(source: string | Uint8Array, options: ReadOnnxOptions = {}): OnnxModelFile {
  const name = options.name ?? (typeof source === 'string' ? source : '<buffer>');
  const { bytes, kind } = typeof source === 'string' ? readModelFile(source, options) : { bytes: source, kind: detectModelFileKind(source.subarray(0, 65536), source.byteLength) };
  if (kind !== 'onnx') throw wrongKindError(name, kind, 'an ONNX model file', 'give a .onnx file (ssd export or ssd quantize write them)');
  const model = decodeModel(bytes, name);
  const graph = model.graph;
  if (!graph) throw new Error(`${name}: the ONNX model has no graph`);
  const initialized = new Set((graph.initializer ?? []).map((t) => t.name));
  const nodes = graph.node ?? [];
  return {
    name,
    bytes,
    model,
    metadata: modelMetadata(model),
    inputs: (graph.input ?? []).filter((v) => !initialized.has(v.name)).map(valueInfo),
    outputs: (graph.output ?? []).map(valueInfo),
    quantizeNodes: nodes.filter((n) => n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear').length,
  };
}
