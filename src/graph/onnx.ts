// Serialises a graph (a GraphView: what the builder's Graph exposes) to a standard ONNX ModelProto (onnx-proto's generated protobuf classes),
// or for a session of this machine with its depthwise convolutions on ONNX Runtime's NCHWc kernels (nchwc.ts).
// Nodes that no output depends on are dropped (gradient rules may build pieces nobody asked for).
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { lowerDepthwiseConv, lowersToNchwc, NCHWC_DOMAIN, type LoweredConv } from './nchwc.js';
import type { ConstantData, Dim, DType, GraphNode, GraphView, Tensor } from './types.js';
import { ONNX_TYPE } from './types.js';

/** The generated protobuf classes (values); `onnx` (the type namespace) is re-exported for signatures. */
export const ONNX = onnxProto.onnx;
export type { onnx };

/** The opset the builder's ops follow (ReduceMean/ReduceMax take axes as an input from 18 on). */
export const OPSET = 18;

export interface SerializeOptions {
  /** 'initializers' (default): parameters are baked into the model with their values;
   *  'inputs': parameters are graph inputs fed at every run (training). */
  parameters?: 'initializers' | 'inputs';
  /** Values to bake in place of each parameter's `init` (by name). */
  values?: ReadonlyMap<string, Float32Array>;
  /** Producer doc string. */
  docString?: string;
  /** Write depthwise convolutions as ONNX Runtime's NCHWc kernels of this block size (see nchwc.ts): for a session
   *  of this machine only, the block being its own. Default 0: standard ONNX. */
  nchwcBlock?: number;
}

function valueInfo(name: string, dtype: DType, shape: readonly Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ONNX_TYPE[dtype],
        shape: {
          dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : d.startsWith('?') ? {} : { dimParam: d })),
        },
      },
    },
  };
}

function tensorProto(name: string, c: ConstantData): onnx.ITensorProto {
  const bytes = new Uint8Array(c.data.buffer, c.data.byteOffset, c.data.byteLength);
  return { name, dims: [...c.shape], dataType: ONNX_TYPE[c.dtype], rawData: bytes };
}

function nodeProto(n: GraphNode, domain = ''): onnx.INodeProto {
  return { name: n.name, opType: n.op, ...(domain ? { domain } : {}), input: [...n.inputs], output: [...n.outputs], attribute: Object.entries(n.attrs).map(([k, v]) => attribute(k, v)) };
}

function attribute(name: string, a: GraphNode['attrs'][string]): onnx.IAttributeProto {
  const T = ONNX.AttributeProto.AttributeType;
  switch (a.type) {
    case 'int':
      return { name, type: T.INT, i: a.value };
    case 'ints':
      return { name, type: T.INTS, ints: a.value };
    case 'float':
      return { name, type: T.FLOAT, f: a.value };
    case 'floats':
      return { name, type: T.FLOATS, floats: a.value };
    case 'string':
      return { name, type: T.STRING, s: new TextEncoder().encode(a.value) };
  }
}

/** Indices of the nodes some output depends on, in order. */
export function liveNodes(g: GraphView, outputs: readonly Tensor[] = g.outputs.map((o) => o.tensor)): number[] {
  const producer = new Map<string, number>();
  g.nodes.forEach((n, i) => n.outputs.forEach((o) => o && producer.set(o, i)));
  const live = new Uint8Array(g.nodes.length);
  const stack = outputs.map((t) => t.name);
  while (stack.length) {
    const name = stack.pop()!;
    const i = producer.get(name);
    if (i === undefined || live[i]) continue;
    live[i] = 1;
    for (const inp of g.nodes[i]!.inputs) if (inp) stack.push(inp);
  }
  const out: number[] = [];
  live.forEach((v, i) => v && out.push(i));
  return out;
}

/** The graph as an ONNX ModelProto (opset 18, IR version 8). */
export function toModelProto(g: GraphView, opts: SerializeOptions = {}): onnx.ModelProto {
  if (g.outputs.length === 0) throw new Error(`toModelProto: graph '${g.name}' declares no outputs`);
  const asInputs = opts.parameters === 'inputs';
  const nodes = liveNodes(g).map((i) => g.nodes[i]!);
  const used = new Set<string>();
  for (const n of nodes) for (const i of n.inputs) if (i) used.add(i);
  for (const o of g.outputs) used.add(o.tensor.name);

  const initializer: onnx.ITensorProto[] = [];
  for (const [name, c] of g.constants) if (used.has(name)) initializer.push(tensorProto(name, c));
  const input: onnx.IValueInfoProto[] = g.inputs.map((t) => valueInfo(t.name, t.dtype, t.shape));
  for (const p of g.parameters) {
    if (asInputs) input.push(valueInfo(p.name, p.dtype, p.shape));
    else if (used.has(p.name)) {
      const data = opts.values?.get(p.name) ?? p.init;
      if (data.length !== p.init.length) throw new Error(`toModelProto: value for parameter '${p.name}' has ${data.length} elements, expected ${p.init.length}`);
      initializer.push(tensorProto(p.name, { data, dtype: 'float32', shape: p.shape as number[] }));
    }
  }
  const block = opts.nchwcBlock ?? 0;
  let lowered = false;
  const node = nodes.flatMap((n): onnx.INodeProto[] => {
    const conv = block > 0 && n.op === 'Conv' ? nchwcConv(g, n, block) : null;
    if (!conv) return [nodeProto(n)];
    lowered = true;
    for (const c of conv.constants) initializer.push(tensorProto(c.name, c.value));
    return conv.nodes.map((m) => nodeProto(m, m.domain));
  });
  const graph: onnx.IGraphProto = {
    name: g.name,
    node,
    initializer,
    input,
    output: g.outputs.map((o) => valueInfo(o.name, o.tensor.dtype, o.tensor.shape)),
  };
  return ONNX.ModelProto.create({
    irVersion: 8,
    producerName: 'ssd-ts',
    producerVersion: '0.1.0',
    docString: opts.docString ?? '',
    opsetImport: [{ domain: '', version: OPSET }, ...(lowered ? [{ domain: NCHWC_DOMAIN, version: 1 }] : [])],
    graph,
  });
}

/** Conv node `n` lowered to NCHWc kernels of `block`, or null where it is not a convolution that lowers. */
function nchwcConv(g: GraphView, n: GraphNode, block: number): LoweredConv | null {
  const x = g.tensor(n.inputs[0]!);
  const w = g.tensor(n.inputs[1]!);
  if (!x || !w || w.shape.length !== 4 || !w.shape.every((d) => typeof d === 'number')) return null;
  const [cout, cinG, kh, kw] = w.shape as number[];
  const groups = n.attrs.group?.type === 'int' ? n.attrs.group.value : 1;
  if (!lowersToNchwc({ groups, cinG: cinG!, cout: cout!, dtype: x.dtype, rank: x.shape.length }, block)) return null;
  return lowerDepthwiseConv(n, cout!, [kh!, kw!]);
}

/** The serialised model bytes. */
export function toBytes(g: GraphView, opts: SerializeOptions = {}): Uint8Array {
  return ONNX.ModelProto.encode(toModelProto(g, opts)).finish();
}
