// The layers int8 can run: every Conv of a (batch-norm folded) graph with constant weights, with the activation
// that follows it (Relu, or Clip to [0, 6] for ReLU6) taken as part of the layer, since ONNX Runtime folds it
// into the quantization of the layer's output. Layers are named after their weights, as the model file names
// them: `base.conv4_3` (SSD300), `backbone.features.3.conv.1.0` (SSDLite's MobileNetV2), `head.cl_conv3_2`.
import type { onnx } from '../../graph/onnx.js';
import { floatValues, intAttribute, intsAttribute, tensorDims, type GraphEditor } from '../../graph/onnx-edit.js';

/** The activation taken into a layer's output. */
export type LayerActivation = 'none' | 'relu' | 'relu6';

/** One convolution of the graph. */
export interface ConvLayer {
  /** The weight's name without `.weight`. */
  name: string;
  conv: onnx.INodeProto;
  /** The Relu or Clip node taken into the layer. */
  activationNode: onnx.INodeProto | undefined;
  activation: LayerActivation;
  /** The tensor the Conv reads. */
  input: string;
  /** The layer's output: the activation's, or the Conv's without one. */
  output: string;
  weight: string;
  bias: string | undefined;
  inChannels: number;
  outChannels: number;
  groups: number;
  kernel: [number, number];
  /** groups == in channels == out channels. */
  depthwise: boolean;
}

/** A Clip node's [min, max] when both are constants, else undefined. */
function clipBounds(g: GraphEditor, node: onnx.INodeProto): [number, number] | undefined {
  const [, lo, hi] = node.input ?? [];
  const value = (name: string | undefined, fallback: number): number | undefined => {
    if (!name) return fallback;
    const t = g.initializers.get(name);
    return t ? floatValues(t)[0] : undefined;
  };
  const a = value(lo, -Infinity), b = value(hi, Infinity);
  return a === undefined || b === undefined ? undefined : [a, b];
}

/** Every Conv with constant weights, in graph order. */
export function convLayers(g: GraphEditor): ConvLayer[] {
  const readers = g.consumerIndex();
  const layers: ConvLayer[] = [];
  const seen = new Set<string>();
  for (const conv of g.nodes) {
    if (conv.opType !== 'Conv') continue;
    const [input, weight, bias] = conv.input ?? [];
    const w = weight ? g.initializers.get(weight) : undefined;
    if (!input || !w || (bias && !g.initializers.has(bias))) continue;
    const dims = tensorDims(w);
    if (dims.length !== 4) continue;
    const out = conv.output![0]!;
    const next = readers.get(out) ?? [];
    let activation: LayerActivation = 'none';
    let activationNode: onnx.INodeProto | undefined;
    if (next.length === 1 && !g.isOutput(out)) {
      const n = next[0]!;
      if (n.opType === 'Relu') activation = 'relu';
      else if (n.opType === 'Clip') {
        const b = clipBounds(g, n);
        if (b && b[0] === 0 && b[1] === 6) activation = 'relu6';
      }
      if (activation !== 'none') activationNode = n;
    }
    let name = weight!.endsWith('.weight') ? weight!.slice(0, -'.weight'.length) : conv.name || weight!;
    if (seen.has(name)) name = `${name}#${layers.length}`;
    seen.add(name);
    const groups = intAttribute(conv, 'group', 1);
    const [cout, cinPerGroup, kh, kw] = dims as [number, number, number, number];
    const kernel = intsAttribute(conv, 'kernel_shape', [kh, kw]);
    layers.push({
      name,
      conv,
      activationNode,
      activation,
      input,
      output: activationNode ? activationNode.output![0]! : out,
      weight: weight!,
      bias: bias || undefined,
      inChannels: cinPerGroup * groups,
      outChannels: cout,
      groups,
      kernel: [kernel[0]!, kernel[1]!],
      depthwise: groups > 1 && groups === cout && cinPerGroup === 1,
    });
  }
  return layers;
}

/** Ops that only move values (the head's layout of its predictions into (N, P, 4) and (N, P, K)). */
const LAYOUT_OPS = new Set(['Transpose', 'Reshape', 'Concat', 'Identity', 'Flatten', 'Squeeze', 'Unsqueeze']);

/**
 * The layers whose output reaches the graph's outputs through layout ops alone: the head's predictions, whose
 * extremes are the most confident detections (a clipping range method must not cut them).
 */
export function predictionLayers(g: GraphEditor, layers: readonly ConvLayer[]): Set<string> {
  const readers = g.consumerIndex();
  const outputs = new Set(g.graph.output!.map((o) => o.name!));
  const reachesOutput = (t: string, depth = 0): boolean => {
    if (outputs.has(t)) return true;
    const next = readers.get(t) ?? [];
    return depth < 16 && next.length > 0 && next.every((n) => LAYOUT_OPS.has(n.opType ?? '') && (n.output ?? []).every((o) => reachesOutput(o, depth + 1)));
  };
  return new Set(layers.filter((l) => reachesOutput(l.output)).map((l) => l.name));
}
