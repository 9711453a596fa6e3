// Writes the int8 model in QDQ form: standard ONNX QuantizeLinear / DequantizeLinear pairs around each quantized
// Conv (no contrib ops), which ONNX Runtime's graph optimiser turns into QLinearConv (and MaxPool, Add into their
// uint8 forms) while any other runtime can still execute the file as written:
//
//   x -> Q(s_x, z_x) -> DQ -> Conv(DQ(W_int8, s_w per channel), DQ(b_int32, s_x * s_w)) -> [Relu | Clip] -> Q(s_y, z_y) -> DQ -> ...
//
// A MaxPool whose input is quantized gets a pair with its input's parameters on its output (it then runs on
// uint8); an Add whose inputs and output are all quantized runs as QLinearAdd. Everything else (SSD300's L2
// normalisation, the head's transposes and concatenation, excluded layers) stays float32 on dequantized values.
import type { onnx } from '../../graph/onnx.js';
import { floatValues, initializer, intAttr, tensorDims, type GraphEditor } from '../../graph/onnx-edit.js';
import type { ConvLayer } from './layers.js';
import { minWeightScalesForBias, quantizeBias, quantizeWeights, type ActivationQuant } from './quantize-math.js';

/** What to quantize, and the quantization of every activation tensor a quantized layer reads or writes. */
export interface QdqPlan {
  /** The layers to run in int8 (the others stay float32). */
  layers: readonly ConvLayer[];
  /** Calibrated quantization of activation tensors, by tensor name: every quantized layer's input and output. */
  activations: ReadonlyMap<string, ActivationQuant>;
}

/** What the writer did. */
export interface QdqResult {
  /** The quantization each tensor got, by name (propagated through MaxPool). */
  quantized: Map<string, ActivationQuant>;
  /** The tensor each quantized tensor's readers now read (its DequantizeLinear output), by original name. */
  dequantized: Map<string, string>;
}

/** The tensors that get a Q/DQ pair, with their quantization: layer inputs and outputs, then MaxPool outputs. */
export function quantizedTensors(g: GraphEditor, plan: QdqPlan): Map<string, ActivationQuant> {
  const out = new Map<string, ActivationQuant>();
  const need = (t: string): ActivationQuant => {
    const q = plan.activations.get(t);
    if (!q) throw new Error(`QDQ: tensor '${t}' has no calibrated range`);
    return q;
  };
  for (const l of plan.layers) {
    out.set(l.input, need(l.input));
    out.set(l.output, need(l.output));
  }
  // A MaxPool on a quantized tensor keeps its input's quantization (its outputs are some of its inputs), so that
  // it runs on uint8; the nodes are in topological order, so chains of pools propagate.
  for (const n of g.nodes) {
    if (n.opType !== 'MaxPool' || (n.output ?? []).length !== 1) continue;
    const q = out.get(n.input![0]!);
    if (q) out.set(n.output![0]!, q);
  }
  return out;
}

/** Rewrites `g` (a float graph with batch norm folded) into QDQ form following `plan`. */
export function writeQdq(g: GraphEditor, plan: QdqPlan): QdqResult {
  const quantized = quantizedTensors(g, plan);
  const dequantized = new Map<string, string>();
  const readers = g.consumerIndex();
  for (const [t, q] of quantized) {
    const dq = addQdqPair(g, t, q);
    g.redirect(t, dq, readers.get(t) ?? []);
    dequantized.set(t, dq);
  }
  for (const l of plan.layers) l.conv.input = [l.conv.input![0]!, ...quantizedConvParameters(g, l, quantized.get(l.input)!)];
  return { quantized, dequantized };
}

/** A QuantizeLinear -> DequantizeLinear pair reading `t` (nobody reads it yet); returns the dequantized tensor. */
export function addQdqPair(g: GraphEditor, t: string, q: ActivationQuant): string {
  const base = t.replace(/[^A-Za-z0-9_./-]/g, '_');
  const scale = g.fresh(`${base}.scale`);
  const zero = g.fresh(`${base}.zero_point`);
  g.setInitializer(initializer(scale, [], Float32Array.of(q.scale)));
  g.setInitializer(initializer(zero, [], Uint8Array.of(q.zeroPoint)));
  const qOut = g.fresh(`${base}.quantized`);
  const dqOut = g.fresh(`${base}.dequantized`);
  g.addNode({ name: g.fresh(`${base}/QuantizeLinear`), opType: 'QuantizeLinear', input: [t, scale, zero], output: [qOut] });
  g.addNode({ name: g.fresh(`${base}/DequantizeLinear`), opType: 'DequantizeLinear', input: [qOut, scale, zero], output: [dqOut] });
  return dqOut;
}

/**
 * A layer's weight (int8 per channel) and bias (int32 at the input's scale times the weight's) as initializers
 * read through DequantizeLinear; returns the tensors the Conv reads in their place ([weight] or [weight, bias]).
 */
export function quantizedConvParameters(g: GraphEditor, l: ConvLayer, input: ActivationQuant): string[] {
  const wt = g.initializers.get(l.weight)!;
  const dims = tensorDims(wt);
  const cout = dims[0]!;
  const bias = l.bias ? floatValues(g.initializers.get(l.bias)!) : undefined;
  const wq = quantizeWeights(floatValues(wt), cout, bias ? minWeightScalesForBias(bias, input.scale) : undefined);
  const out = [dequantizeNode(g, l.weight, dims, wq.values, wq.scales, new Int8Array(cout))];
  if (bias) {
    const bq = quantizeBias(bias, input.scale, wq.scales);
    out.push(dequantizeNode(g, l.bias!, [cout], bq.values, bq.scales, new Int32Array(cout)));
  }
  return out;
}

/** int8 / int32 values with per-channel scales and zero points, and the DequantizeLinear (axis 0) reading them. */
function dequantizeNode(g: GraphEditor, name: string, dims: number[], values: Int8Array | Int32Array, scales: Float32Array, zeros: Int8Array | Int32Array): string {
  const q = g.fresh(`${name}.quantized`);
  const s = g.fresh(`${name}.scale`);
  const z = g.fresh(`${name}.zero_point`);
  g.setInitializer(initializer(q, dims, values));
  g.setInitializer(initializer(s, [scales.length], scales));
  g.setInitializer(initializer(z, [zeros.length], zeros));
  const out = g.fresh(`${name}.dequantized`);
  const node: onnx.INodeProto = { name: g.fresh(`${name}/DequantizeLinear`), opType: 'DequantizeLinear', input: [q, s, z], output: [out], attribute: [intAttr('axis', 0)] };
  g.addNode(node);
  return out;
}
