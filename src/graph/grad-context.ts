// What a gradient rule sees (the node, its tensors, the gradients arriving at its outputs) and the helpers rules
// share: reading a node's attributes and constant inputs, static dimensions, undoing broadcasting and reshapes.
import type { Graph } from './builder.js';
import type { Dim, GraphNode, Tensor } from './types.js';

/**
 * How to compute a convolution's weight gradient (src/graph/conv-gradients.ts): im2col by a one-hot grouped Conv
 * ('im2col') or by strided Slices ('im2col-slices') then a MatMul per image, or then one Gemm over the batch
 * ('im2col-gemm', groups 1), or each image's im2col and its own Gemm ('gemm-per-image', groups 1, static batch); a
 * Conv over transposed tensors ('transposed', groups 1); for depthwise layers one Conv with a group per image and
 * channel ('grouped', static batch); for 1x1 layers one batched MatMul ('matmul'). 'auto' picks by the layer's
 * shape.
 */
export type ConvWeightGradMethod = 'auto' | 'im2col' | 'im2col-slices' | 'im2col-gemm' | 'gemm-per-image' | 'transposed' | 'grouped' | 'matmul';
/**
 * How to compute a convolution's input gradient: ConvTranspose; a Conv with the flipped kernel ('conv', stride 1,
 * groups 1); its depthwise form ('depthwise', stride 1); for 1x1 layers one MatMul ('matmul'). Where the requested
 * one does not apply, ConvTranspose.
 */
export type ConvInputGradMethod = 'auto' | 'convTranspose' | 'conv' | 'depthwise' | 'matmul';

/** Settings of the convolution gradients; every field defaults to the measured choice. */
export interface ConvGradientOptions {
  /** Weight-gradient formulation. Default 'auto'. */
  convWeightGrad?: ConvWeightGradMethod;
  /** Input-gradient formulation. Default 'auto'. */
  convInputGrad?: ConvInputGradMethod;
  /** Largest im2col chunk in bytes. Default IM2COL_CHUNK_BYTES (256 MiB, batch 8 assumed if symbolic). */
  im2colChunkBytes?: number;
  /** The NCHWc block the graph's depthwise convolutions will run at (nchwc.ts; the session's serialisation option
   *  of the same name), which makes the grouped depthwise weight gradient the faster one. Default 0: none. */
  nchwcBlock?: number;
}

/** What a rule sees: the node, its input and output tensors, and the gradients arriving at its outputs. */
export interface GradContext {
  readonly g: Graph;
  readonly node: GraphNode;
  readonly nodeIndex: number;
  /** The node's inputs (null for an omitted optional input). */
  readonly inputs: readonly (Tensor | null)[];
  readonly outputs: readonly Tensor[];
  /** dLoss/dOutput for each output (null where no gradient arrives). */
  readonly grads: readonly (Tensor | null)[];
  /** How convolution gradients are formulated (src/graph/conv-gradients.ts). */
  readonly conv: ConvGradientOptions;
}

/** A rule returns dLoss/dInput for each input (null: none, or not differentiable). */
export type GradRule = (c: GradContext) => (Tensor | null)[];

export const ints = (n: GraphNode, k: string, dflt: number[]): number[] => {
  const a = n.attrs[k];
  return a && a.type === 'ints' ? a.value : dflt;
};
export const int = (n: GraphNode, k: string, dflt: number): number => {
  const a = n.attrs[k];
  return a && a.type === 'int' ? a.value : dflt;
};
export const float = (n: GraphNode, k: string, dflt: number): number => {
  const a = n.attrs[k];
  return a && a.type === 'float' ? a.value : dflt;
};

/** The values of an int64 constant input (reduce axes, split sizes): the rule needs them at build time. */
export function constInts(c: GradContext, i: number): number[] {
  const name = c.node.inputs[i]!;
  const k = c.g.constants.get(name);
  if (!k) throw new Error(`gradients: ${c.node.op} '${c.node.name}' input ${i} ('${name}') must be a constant to differentiate`);
  return Array.from(k.data as ArrayLike<number | bigint>, Number);
}

export function staticDim(c: GradContext, d: Dim, what: string): number {
  if (typeof d !== 'number') throw new Error(`gradients: ${c.node.op} '${c.node.name}' needs a static ${what}, got '${d}'`);
  return d;
}

/** Sums a broadcast gradient back to `shape` (numpy broadcasting in reverse). */
export function unbroadcast(g: Graph, grad: Tensor, shape: readonly Dim[]): Tensor {
  const lead = grad.shape.length - shape.length;
  let t = lead > 0 ? g.reduceSum(grad, [...Array(lead).keys()], false) : grad;
  const axes: number[] = [];
  shape.forEach((d, i) => {
    if (d === 1 && t.shape[i] !== 1) axes.push(i);
  });
  if (axes.length) t = g.reduceSum(t, axes, true);
  return t;
}

/**
 * Reshapes `grad` to the shape of `like`. When that shape can be written down at build time (static dims, a
 * symbol that `grad` has at the same position, at most one dim inferred) it is a constant; otherwise it is read
 * from `like` at run time, which keeps `like` alive until the backward pass reaches this node.
 */
export function reshapeLike(g: Graph, grad: Tensor, like: Tensor): Tensor {
  let inferred = 0;
  for (let i = 0; i < like.shape.length; i++) {
    const d = like.shape[i]!;
    if (typeof d === 'string' && grad.shape[i] !== d) inferred++;
  }
  if (inferred <= 1) return g.reshape(grad, like.shape);
  return g.reshape(grad, g.shapeOf(like), like.shape);
}

export const axisOf = (c: GradContext): number => int(c.node, 'axis', 0);

/** The end padding and output padding that make ConvTranspose return exactly `size` along one dim. */
export function transposedPads(outSize: number, size: number, kernel: number, stride: number, padBegin: number, dilation: number): [number, number] {
  const excess = stride * (outSize - 1) + dilation * (kernel - 1) + 1 - padBegin - size;
  return excess >= 0 ? [excess, 0] : [0, -excess];
}
