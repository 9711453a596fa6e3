// Depthwise convolutions lowered to ONNX Runtime's NCHWc kernels (domain com.microsoft.nchwc) when a graph is
// written for a session of this machine. ORT's own graph optimiser does this for inference, but only for a Conv
// whose weight is a constant; in a training graph the weights are inputs, and a depthwise 3x3 Conv then runs a
// scalar kernel per channel. The NCHWc Conv reads its filter as an input like any other, so the lowering reorders
// the filter in the graph and wraps the Conv in the layout changes ORT's optimiser would insert:
//   x -> ReorderInput -> Conv (nchwc) -> ReorderOutput -> y,   W -> Reshape -> ReorderInput -> Reshape -> filter.
// The blocked layout groups channels by the machine's vector width (the block: 16 channels with AVX-512, 8 with
// AVX2), and a Conv lowers only over a whole number of blocks; ONNX Runtime does not expose the block, so
// nchwc-block.ts finds it by trying.
import type { ConstantData, DType, GraphNode } from './types.js';

export const NCHWC_DOMAIN = 'com.microsoft.nchwc';

/** The block sizes ONNX Runtime's NCHWc kernels may use, smallest first. */
export const NCHWC_BLOCKS = [4, 8, 16] as const;

/**
 * Whether a convolution is lowered at block size `block` (0: never): a 2-D depthwise convolution (one input and one
 * output channel per group) in float32 over a whole number of blocks of channels.
 */
export function lowersToNchwc(conv: { groups: number; cinG: number; cout: number; dtype: DType; rank: number }, block: number): boolean {
  return block > 0 && conv.rank === 4 && conv.dtype === 'float32' && conv.groups > 1 && conv.cinG === 1 && conv.cout === conv.groups && conv.groups % block === 0;
}

/** What replaces one depthwise Conv node: nodes (with their operator domain) and the shape constants they read. */
export interface LoweredConv {
  nodes: Array<GraphNode & { domain: string }>;
  constants: Array<{ name: string; value: ConstantData }>;
}

/**
 * The NCHWc form of Conv node `n` (depthwise, `channels` channels, kernel kh x kw). The filter's blocked layout,
 * [C/block, kh, kw, block], is the blocked layout of the filter read as one image [1, C, kh, kw], so ReorderInput
 * reorders both x and the filter. Names of the new tensors and nodes extend the Conv's own, so that profiles
 * attribute them to its layer.
 */
export function lowerDepthwiseConv(n: GraphNode, channels: number, kernel: [number, number]): LoweredConv {
  const [x, w, bias] = n.inputs;
  const y = n.outputs[0]!;
  const [kh, kw] = kernel;
  const t = (suffix: string): string => `${y}.nchwc_${suffix}`;
  const node = (name: string, op: string, inputs: string[], outputs: string[], attrs: GraphNode['attrs'] = {}, domain = ''): LoweredConv['nodes'][number] => ({
    name: `${n.name}.nchwc_${name}`,
    op,
    domain,
    inputs,
    outputs,
    attrs,
  });
  const planar = { channels_last: { type: 'int', value: 0 } } as const;
  const shape = (name: string, values: number[]): LoweredConv['constants'][number] => ({
    name: t(name),
    value: { data: BigInt64Array.from(values, BigInt), dtype: 'int64', shape: [values.length] },
  });
  return {
    nodes: [
      node('x', 'ReorderInput', [x!], [t('x')], planar, NCHWC_DOMAIN),
      node('w_image', 'Reshape', [w!, t('image_shape')], [t('w_image')]),
      node('w_blocked', 'ReorderInput', [t('w_image')], [t('w_blocked')], planar, NCHWC_DOMAIN),
      node('w', 'Reshape', [t('w_blocked'), t('filter_shape')], [t('w')]),
      node('conv', 'Conv', [t('x'), t('w'), ...(bias ? [bias] : [])], [t('y')], n.attrs, NCHWC_DOMAIN),
      node('y', 'ReorderOutput', [t('y')], [y], { ...planar, channels: { type: 'int', value: channels } }, NCHWC_DOMAIN),
    ],
    constants: [shape('image_shape', [1, channels, kh, kw]), shape('filter_shape', [channels, 1, kh, kw])],
  };
}
