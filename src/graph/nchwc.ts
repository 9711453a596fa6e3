// Depthwise convolutions lowered to ONNX Runtime's NCHWc kernels (domain com.microsoft.nchwc) when a graph is
// written for a session of this machine. ORT's own graph optimiser does this for inference, but only for a Conv
// whose weight is a constant; in a training graph the weights are inputs, and a depthwise 3x3 Conv then runs a
// scalar kernel per channel. The NCHWc Conv reads its filter as an input like any other, so the lowering reorders
// the filter in the graph and wraps the Conv in the layout changes ORT's optimiser would insert:
//   x -> ReorderInput -> Conv (nchwc) -> ReorderOutput -> y,   W -> Reshape -> ReorderInput -> Reshape -> filter.
// The blocked layout groups channels by the machine's vector width (the block: 16 channels with AVX-512, 8 with
// AVX2), and a Conv lowers only over a whole number of blocks; ONNX Runtime does not expose the block, so
// nchwc-block.ts finds it by trying.
import type { onnx } from 'onnx-proto';
import { ONNX_TYPE, type DType, type GraphNode } from './types.js';

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

/** The proto nodes and shape constants that replace one depthwise Conv node. */
export interface LoweredConv {
  nodes: onnx.INodeProto[];
  initializers: onnx.ITensorProto[];
}

function int64Tensor(name: string, values: number[]): onnx.ITensorProto {
  return { name, dims: [values.length], dataType: ONNX_TYPE.int64, rawData: new Uint8Array(BigInt64Array.from(values, BigInt).buffer) };
}

/**
 * The NCHWc form of Conv node `n` (depthwise, `channels` channels, kernel kh x kw). The filter's blocked layout,
 * [C/block, kh, kw, block], is the blocked layout of the filter read as one image [1, C, kh, kw], so ReorderInput
 * reorders both x and the filter. Names of the new tensors and nodes extend the Conv's own, so that profiles
 * attribute them to its layer.
 */
export function lowerDepthwiseConv(n: GraphNode, channels: number, kernel: [number, number], attribute: (name: string, a: GraphNode['attrs'][string]) => onnx.IAttributeProto): LoweredConv {
  const [x, w, bias] = n.inputs;
  const y = n.outputs[0]!;
  const [kh, kw] = kernel;
  const t = (suffix: string): string => `${y}.nchwc_${suffix}`;
  const node = (name: string, opType: string, input: string[], output: string[], attrs: onnx.IAttributeProto[] = [], domain = ''): onnx.INodeProto => ({
    name: `${n.name}.nchwc_${name}`,
    opType,
    domain,
    input,
    output,
    attribute: attrs,
  });
  const int = (name: string, value: number): onnx.IAttributeProto => attribute(name, { type: 'int', value });
  const nodes = [
    node('x', 'ReorderInput', [x!], [t('x')], [int('channels_last', 0)], NCHWC_DOMAIN),
    node('w_image', 'Reshape', [w!, t('image_shape')], [t('w_image')]),
    node('w_blocked', 'ReorderInput', [t('w_image')], [t('w_blocked')], [int('channels_last', 0)], NCHWC_DOMAIN),
    node('w', 'Reshape', [t('w_blocked'), t('filter_shape')], [t('w')]),
    {
      ...node('conv', 'Conv', [t('x'), t('w'), ...(bias ? [bias] : [])], [t('y')], [], NCHWC_DOMAIN),
      attribute: Object.entries(n.attrs).map(([k, v]) => attribute(k, v)),
    },
    node('y', 'ReorderOutput', [t('y')], [y], [int('channels', channels), int('channels_last', 0)], NCHWC_DOMAIN),
  ];
  return { nodes, initializers: [int64Tensor(t('image_shape'), [1, channels, kh, kw]), int64Tensor(t('filter_shape'), [channels, 1, kh, kw])] };
}
