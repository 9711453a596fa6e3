// The gradients of a convolution, formulated per layer: the same math written with different ONNX ops, because
// ONNX Runtime's kernels differ by an order of magnitude between formulations on some shapes. `convGradients` is
// the one entry point the gradient table calls; `chooseConvGradients` is the one place that picks a formulation
// from the layer's shape. The measurements behind each choice are in bench/RESULTS.md ("Convolution gradients");
// bench/graph-layers.bench.ts measures every formulation against PyTorch's layer.
import type { Graph } from './builder.js';
import { int, ints, staticDim, transposedPads, type ConvGradientOptions, type ConvInputGradMethod, type ConvWeightGradMethod, type GradContext } from './grad-context.js';
import { lowersToNchwc } from './nchwc.js';
import type { Tensor } from './types.js';

/** Default bound on one im2col chunk: the im2col matrix is built in chunks of output rows of at most this many bytes
 *  (batch 8 assumed when the batch is symbolic), so conv1_2's 1.66 GB at batch 8 becomes 7 passes of 240 MB. */
export const IM2COL_CHUNK_BYTES = 256 * 2 ** 20;

/** A convolution node's shape: everything a formulation or the chooser needs. */
export interface ConvGeometry {
  x: Tensor;
  w: Tensor;
  dy: Tensor;
  cout: number;
  /** Input channels per group. */
  cinG: number;
  cin: number;
  groups: number;
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  /** [top, left, bottom, right]. */
  pads: [number, number, number, number];
  /** Input height and width. */
  H: number;
  W: number;
  /** Output height and width. */
  ho: number;
  wo: number;
  /** The batch, or 8 when it is symbolic (for memory estimates only). */
  batch: number;
}

/** The formulations of the input gradient (see ConvInputGradMethod). */
export type ConvInputGradFormulation = Exclude<ConvInputGradMethod, 'auto'>;
/** The formulations of the weight gradient (see ConvWeightGradMethod). */
export type ConvWeightGradFormulation = Exclude<ConvWeightGradMethod, 'auto'>;

/** Reads a Conv node's geometry. */
export function convGeometry(c: GradContext, dy: Tensor): ConvGeometry {
  const [x, w] = c.inputs as [Tensor, Tensor];
  const [cout, cinG, kh, kw] = w.shape as [number, number, number, number];
  const groups = int(c.node, 'group', 1);
  return {
    x,
    w,
    dy,
    cout,
    cinG,
    cin: cinG * groups,
    groups,
    kernel: ints(c.node, 'kernel_shape', [kh, kw]) as [number, number],
    strides: ints(c.node, 'strides', [1, 1]) as [number, number],
    dilations: ints(c.node, 'dilations', [1, 1]) as [number, number],
    pads: ints(c.node, 'pads', [0, 0, 0, 0]) as [number, number, number, number],
    H: staticDim(c, x.shape[2]!, 'input height'),
    W: staticDim(c, x.shape[3]!, 'input width'),
    ho: staticDim(c, dy.shape[2]!, 'output height'),
    wo: staticDim(c, dy.shape[3]!, 'output width'),
    batch: typeof x.shape[0] === 'number' ? x.shape[0] : 8,
  };
}

/** Padding of the flipped-kernel Conv that is the adjoint of a stride-1 convolution. */
function flippedPads(k: ConvGeometry): [number, number, number, number] {
  const [kh, kw] = k.kernel;
  const [dh, dw] = k.dilations;
  const [pt, pl, pb, pr] = k.pads;
  return [dh * (kh - 1) - pt, dw * (kw - 1) - pl, dh * (kh - 1) - pb, dw * (kw - 1) - pr];
}

/** Bytes of the whole im2col matrix of a layer. */
function im2colBytes(k: ConvGeometry): number {
  return k.batch * k.cin * k.kernel[0] * k.kernel[1] * k.ho * k.wo * (k.x.dtype === 'float64' ? 8 : 4);
}

/**
 * The formulations for a layer: the requested ones where they apply (else the general one), or for 'auto' the
 * fastest measured on layers of its shape.
 * - Input gradient: a Conv with the flipped kernel beats ConvTranspose on 3x3 stride-1 layers with outputs of
 *   10x10 or more, and its depthwise form on every stride-1 depthwise layer; 1x1 layers are one MatMul; the rest
 *   (strided and small maps) keep ConvTranspose.
 * - Weight gradient: 1x1 layers one batched MatMul, whose per-image products are then summed, or where those
 *   products are larger than the layer's input and output (many channels on a small map) one Gemm over the whole
 *   batch (its transposes move whole rows of the maps); depthwise layers one grouped Conv per image and channel
 *   where that Conv runs on NCHWc kernels or the outputs are 10x10 or less, else im2col with a MatMul per channel;
 *   each image's im2col and its own Gemm where there are at most 4 input channels (the first layer, where the
 *   batched forms' transposes of a long, narrow matrix cost more than the product); im2col and one Gemm over the
 *   whole batch up to 48x48 outputs (where transposing the im2col matrix is cheap next to the product), unless the
 *   matrix is large and the output channels few (SSD300's head on conv4_3, whose im2col comes at the step's memory
 *   peak); im2col and a MatMul per image otherwise.
 */
export function chooseConvGradients(k: ConvGeometry, options: ConvGradientOptions): { input: ConvInputGradFormulation; weight: ConvWeightGradFormulation } {
  const depthwise = isDepthwise(k);
  const unitStride = k.strides[0] === 1 && k.strides[1] === 1;
  const pointwise = isUnitConv(k) && k.groups === 1;
  const fits: Record<ConvInputGradFormulation, boolean> = {
    convTranspose: true,
    conv: unitStride && k.groups === 1 && flippedPads(k).every((p) => p >= 0),
    depthwise: unitStride && depthwise && flippedPads(k).every((p) => p >= 0),
    matmul: pointwise,
  };
  const requestedInput = options.convInputGrad ?? 'auto';
  let input: ConvInputGradFormulation;
  if (requestedInput !== 'auto') input = fits[requestedInput] ? requestedInput : 'convTranspose';
  else if (pointwise) input = 'matmul';
  else if (fits.depthwise) input = 'depthwise';
  else input = fits.conv && k.kernel[0] * k.kernel[1] > 1 && k.ho * k.wo >= 100 ? 'conv' : 'convTranspose';

  const requestedWeight = options.convWeightGrad ?? 'auto';
  let weight: ConvWeightGradFormulation;
  if (requestedWeight !== 'auto') weight = requestedWeight;
  else if (pointwise) weight = k.ho * k.wo * (k.cin + k.cout) <= k.cin * k.cout ? 'im2col-gemm' : 'matmul';
  else if (depthwise) weight = k.ho * k.wo <= 100 || groupedOnNchwc(k, options.nchwcBlock ?? 0) ? 'grouped' : 'im2col';
  else if (k.groups === 1 && k.cin <= 4) weight = 'gemm-per-image';
  else if (k.groups === 1 && k.ho * k.wo <= 48 * 48 && (k.cout >= 256 || im2colBytes(k) <= 128 * 2 ** 20)) weight = 'im2col-gemm';
  else weight = 'im2col';
  if (weight === 'im2col-gemm' && k.groups !== 1) throw new Error(`gradients: the 'im2col-gemm' weight gradient needs groups 1, got ${k.groups}`);
  if (weight === 'grouped' && !depthwise) throw new Error(`gradients: the 'grouped' weight gradient is for depthwise convolutions (groups = channels), got groups ${k.groups} of ${k.cin} -> ${k.cout} channels`);
  const staticBatch = typeof k.x.shape[0] === 'number';
  const fitsWeight = !(
    (weight === 'matmul' && !pointwise) ||
    (weight === 'transposed' && k.groups !== 1) ||
    (weight === 'gemm-per-image' && (k.groups !== 1 || !staticBatch)) ||
    (weight === 'grouped' && !staticBatch)
  );
  return { input, weight: fitsWeight ? weight : 'im2col' };
}

/** 1x1, stride 1, no padding: the input itself is the im2col matrix. */
function isUnitConv(k: ConvGeometry): boolean {
  return k.kernel[0] * k.kernel[1] === 1 && k.strides.every((s) => s === 1) && k.pads.every((p) => p === 0);
}

/** Whether the grouped weight gradient's Conv (groups N*C, see weightGradGrouped) lowers to NCHWc kernels. */
function groupedOnNchwc(k: ConvGeometry, block: number): boolean {
  const n = k.x.shape[0];
  return typeof n === 'number' && lowersToNchwc({ groups: n * k.groups, cinG: 1, cout: n * k.cout, dtype: k.x.dtype, rank: 4 }, block);
}

/** A depthwise convolution: one input and one output channel per group. */
function isDepthwise(k: ConvGeometry): boolean {
  return k.groups > 1 && k.cinG === 1 && k.cout === k.groups;
}

/** The gradients of a Conv node's input and weight, in the formulations chosen for its shape. */
export function convGradients(c: GradContext, dy: Tensor): [Tensor, Tensor] {
  const k = convGeometry(c, dy);
  const chosen = chooseConvGradients(k, c.conv);
  const chunkBytes = c.conv.im2colChunkBytes ?? IM2COL_CHUNK_BYTES;
  return [INPUT_GRADIENTS[chosen.input](c.g, k), WEIGHT_GRADIENTS[chosen.weight](c.g, k, chunkBytes)];
}

// ------------------------------------------------------------------ input gradient

/** The kernel flipped in both spatial axes. */
function flippedKernel(g: Graph, k: ConvGeometry): Tensor {
  const [kh, kw] = k.kernel;
  return g.slice(k.w, [kh - 1, kw - 1], [-(2 ** 62), -(2 ** 62)], [2, 3], [-1, -1]);
}

/** Stride 1: the adjoint is a Conv with the kernel flipped in space and its channel axes swapped. */
function inputGradFlippedConv(g: Graph, k: ConvGeometry): Tensor {
  return g.conv2d(k.dy, g.transpose(flippedKernel(g, k), [1, 0, 2, 3]), undefined, { pad: flippedPads(k), dilation: k.dilations });
}

/** ConvTranspose with the forward's kernel, padded so that it returns exactly the input's size. */
function inputGradConvTranspose(g: Graph, k: ConvGeometry): Tensor {
  const [kh, kw] = k.kernel;
  const [sh, sw] = k.strides;
  const [dh, dw] = k.dilations;
  const [pt, pl] = k.pads;
  const [pb, oph] = transposedPads(k.ho, k.H, kh, sh, pt, dh);
  const [pr, opw] = transposedPads(k.wo, k.W, kw, sw, pl, dw);
  return g.convTranspose2d(k.dy, k.w, undefined, { stride: [sh, sw], dilation: [dh, dw], pad: [pt, pl, pb, pr], groups: k.groups, outputPadding: [oph, opw] });
}

/** Depthwise, stride 1: the adjoint is the depthwise Conv of dy with the kernel flipped in space. */
function inputGradDepthwise(g: Graph, k: ConvGeometry): Tensor {
  return g.conv2d(k.dy, flippedKernel(g, k), undefined, { pad: flippedPads(k), dilation: k.dilations, groups: k.groups });
}

/** 1x1, stride 1, no padding: dx[n] = W^T dy[n], one MatMul broadcast over the images. */
function inputGradPointwise(g: Graph, k: ConvGeometry): Tensor {
  const n = k.dy.shape[0]!;
  const wT = g.transpose(g.reshape(k.w, [k.cout, k.cin]), [1, 0]); // [Cin, Cout], small
  const dx = g.matmul(wT, g.reshape(k.dy, [n, k.cout, k.ho * k.wo]));
  return g.reshape(dx, [n, k.cin, k.H, k.W]);
}

// ------------------------------------------------------------------ weight gradient

/**
 * 1x1, stride 1, no padding: dW = sum over images of dy[n] x[n]^T, one batched MatMul and a sum; the smaller of
 * x and dy is the one transposed.
 */
function weightGradPointwise(g: Graph, k: ConvGeometry): Tensor {
  const n = k.x.shape[0]!;
  const L = k.ho * k.wo;
  const x = g.reshape(k.x, [n, k.cin, L]);
  const dy = g.reshape(k.dy, [n, k.cout, L]);
  const w =
    k.cin <= k.cout
      ? g.reduceSum(g.matmul(dy, g.transpose(x, [0, 2, 1])), [0], false) // [Cout, Cin]
      : g.transpose(g.reduceSum(g.matmul(x, g.transpose(dy, [0, 2, 1])), [0], false), [1, 0]);
  return g.reshape(w, [k.cout, k.cin, 1, 1]);
}

/** The end padding (bottom for axis 0, right for axis 1) the forward's windows actually reach: padding past the
 *  last window never meets a weight. */
function endPad(k: ConvGeometry, axis: 0 | 1): number {
  const size = axis === 0 ? k.H : k.W;
  const out = axis === 0 ? k.ho : k.wo;
  const reach = k.strides[axis] * (out - 1) + k.dilations[axis] * (k.kernel[axis] - 1) + 1 - k.pads[axis];
  return Math.max(0, Math.min(k.pads[axis + 2]!, reach - size));
}

/** The forward's padding with the end padding trimmed to what its windows reach. */
function reachedPads(k: ConvGeometry): [number, number, number, number] {
  return [k.pads[0], k.pads[1], endPad(k, 0), endPad(k, 1)];
}

/**
 * The weight gradient as a Conv of x with dy as the kernels (stride and dilation swapped): `input` and `kernels` are
 * x and dy laid out for it; the result is trimmed to kh x kw (end padding the forward never reached is dropped).
 */
function correlateWithDy(g: Graph, k: ConvGeometry, input: Tensor, kernels: Tensor, groups: number): Tensor {
  const [kh, kw] = k.kernel;
  const r = g.conv2d(input, kernels, undefined, { stride: k.dilations, dilation: k.strides, pad: reachedPads(k), groups });
  return r.shape[2] !== kh || r.shape[3] !== kw ? g.slice(r, [0, 0], [kh, kw], [2, 3]) : r;
}

/**
 * Depthwise: each image's channel correlated with its own dy - one Conv over x as [1, N*C, H, W] with dy as
 * [N*C, 1, Ho, Wo] kernels (groups N*C; both pure reshapes of NCHW), then the sum over the images. Each group's
 * work fits in cache, where an im2col matrix would not.
 */
function weightGradGrouped(g: Graph, k: ConvGeometry): Tensor {
  const [kh, kw] = k.kernel;
  const n = k.x.shape[0]!;
  if (typeof n !== 'number') throw new Error(`gradients: the 'grouped' weight gradient needs a static batch, got '${n}'`);
  const groups = n * k.cout;
  const r = correlateWithDy(g, k, g.reshape(k.x, [1, groups, k.H, k.W]), g.reshape(k.dy, [groups, 1, k.ho, k.wo]), groups);
  return g.reshape(g.reduceSum(g.reshape(r, [n, k.cout, kh, kw]), [0], false), [k.cout, 1, kh, kw]);
}

/** dW[co, ci] = Conv(x^T [Cin, N, H, W], dy^T [Cout, N, Ho, Wo]) with stride and dilation swapped (groups 1). */
function weightGradTransposedConv(g: Graph, k: ConvGeometry): Tensor {
  return g.transpose(correlateWithDy(g, k, g.transpose(k.x, [1, 0, 2, 3]), g.transpose(k.dy, [1, 0, 2, 3]), 1), [1, 0, 2, 3]);
}

/** One-hot filters [Cin*kh*kw, 1, kh, kw]: a grouped Conv with them is im2col ([N, Cin*kh*kw, Ho, Wo]). */
function oneHotFilters(g: Graph, cin: number, kh: number, kw: number, dtype: Tensor['dtype']): Tensor {
  const kk = kh * kw;
  const data = dtype === 'float64' ? new Float64Array(cin * kk * kk) : new Float32Array(cin * kk * kk);
  for (let ci = 0; ci < cin; ci++) for (let j = 0; j < kk; j++) data[(ci * kk + j) * kk + j] = 1;
  return g.constant(data, { shape: [cin * kk, 1, kh, kw], dtype });
}

/** im2col as kh*kw strided Slices of the zero-padded input, stacked behind the channel axis:
 *  [N, C, H, W] -> [N, C, kh*kw, Ho, Wo] (channel-major, as the weight's [Cout, C, kh, kw] layout). */
function im2colSlices(g: Graph, x: Tensor, kh: number, kw: number, s: [number, number], d: [number, number], p: [number, number, number, number], ho: number, wo: number): Tensor {
  const padded = p.every((v) => v === 0)
    ? x
    : g.custom('Pad', [x, g.constant(BigInt64Array.from([0, 0, p[0], p[1], 0, 0, p[2], p[3]], BigInt), { dtype: 'int64' })], { mode: { type: 'string', value: 'constant' } }, [
        { dtype: x.dtype, shape: [x.shape[0]!, x.shape[1]!, (x.shape[2] as number) + p[0] + p[2], (x.shape[3] as number) + p[1] + p[3]] },
      ])[0]!;
  const taps: Tensor[] = [];
  for (let ky = 0; ky < kh; ky++)
    for (let kx = 0; kx < kw; kx++) {
      const y0 = ky * d[0];
      const x0 = kx * d[1];
      const tap = g.slice(padded, [y0, x0], [y0 + s[0] * (ho - 1) + 1, x0 + s[1] * (wo - 1) + 1], [2, 3], s);
      taps.push(g.unsqueeze(tap, [2]));
    }
  return g.concat(taps, 2);
}

/**
 * im2col (a fixed one-hot grouped Conv, or strided Slices), then either one batched MatMul per group,
 * cols [N, G, CinG*kk, L] @ dy^T [N, G, L, CoutG] summed over N, or one Gemm dy [Cout, N*L] x cols [Cin*kk, N*L]^T;
 * in chunks of output rows to bound memory.
 */
function weightGradIm2col(g: Graph, k: ConvGeometry, method: ConvWeightGradFormulation, chunkBytes: number): Tensor {
  const { x, dy, cout, cinG, cin, groups, strides, dilations, pads, H, ho, wo } = k;
  const [kh, kw] = k.kernel;
  const kk = kh * kw;
  const unitConv = isUnitConv(k);
  const gemm = method === 'im2col-gemm';
  // The Gemm formulation holds the im2col matrix twice (as built and transposed), in chunks of half the bound:
  // the two copies together then take no more than the MatMul's matrix of a similar layer.
  const colsBytes = im2colBytes(k) * (gemm && !unitConv ? 4 : 1);
  const chunks = unitConv ? 1 : Math.min(ho, Math.ceil(colsBytes / chunkBytes));
  const rowsPerChunk = Math.ceil(ho / chunks);
  const filters = unitConv || method === 'im2col-slices' ? null : oneHotFilters(g, cin, kh, kw, x.dtype);
  let acc: Tensor | null = null;
  for (let a = 0; a < ho; a += rowsPerChunk) {
    const b = Math.min(ho, a + rowsPerChunk);
    // Input rows this chunk of output rows reads (inclusive), clamped to the image; the rest is padding.
    const lo = a * strides[0] - pads[0];
    const hi = (b - 1) * strides[0] - pads[0] + dilations[0] * (kh - 1);
    const r0 = Math.max(0, lo);
    const r1 = Math.min(H - 1, hi);
    const whole = a === 0 && b === ho;
    const xs = whole ? x : g.slice(x, [r0], [r1 + 1], [2]);
    const dys = whole ? dy : g.slice(dy, [a], [b], [2]);
    const chunkPads: [number, number, number, number] = [r0 - lo, pads[1], hi - r1, endPad(k, 1)];
    const L = (b - a) * wo;
    const cols = unitConv
      ? xs
      : filters
        ? g.conv2d(xs, filters, undefined, { stride: strides, dilation: dilations, pad: chunkPads, groups: cin })
        : im2colSlices(g, xs, kh, kw, strides, dilations, chunkPads, b - a, wo);
    if (gemm) {
      const colsT = g.reshape(g.transpose(g.reshape(cols, [0, cin * kk, L]), [1, 0, 2]), [cin * kk, -1]);
      const dyT = g.reshape(g.transpose(g.reshape(dys, [0, cout, L]), [1, 0, 2]), [cout, -1]);
      acc = g.gemm(dyT, colsT, { transB: true, ...(acc ? { c: acc } : {}) }); // [Cout, Cin*kk], chunks summed by C
      continue;
    }
    const cols4 = g.reshape(cols, [x.shape[0]!, groups, cinG * kk, L]);
    const dyT = g.transpose(g.reshape(dys, [0, groups, cout / groups, L]), [0, 1, 3, 2]);
    const part = g.reduceSum(g.matmul(cols4, dyT), [0], false); // [G, CinG*kk, CoutG]
    acc = acc ? g.add(acc, part) : part;
  }
  if (gemm) return g.reshape(acc!, [cout, cinG, kh, kw]);
  return g.reshape(g.transpose(acc!, [0, 2, 1]), [cout, cinG, kh, kw]);
}

/**
 * Each image on its own: its im2col (the one-hot Conv; the image itself for 1x1 layers) and one Gemm,
 * dy[n] [Cout, L] x cols[n] [Cin*kk, L]^T, the images summed through the Gemm's C input. Neither matrix is
 * transposed, which the batched formulations need; the images are split off first (copies of x and dy, not of the
 * im2col matrix). Groups 1, static batch.
 */
function weightGradGemmPerImage(g: Graph, k: ConvGeometry): Tensor {
  const { cout, cin, strides, dilations, ho, wo } = k;
  const [kh, kw] = k.kernel;
  const n = k.x.shape[0]!;
  if (typeof n !== 'number') throw new Error(`gradients: the 'gemm-per-image' weight gradient needs a static batch, got '${n}'`);
  const filters = isUnitConv(k) ? null : oneHotFilters(g, cin, kh, kw, k.x.dtype);
  const images = (t: Tensor): Tensor[] => (n === 1 ? [t] : g.split(t, new Array<number>(n).fill(1), 0));
  const [xs, dys] = [images(k.x), images(k.dy)];
  const L = ho * wo;
  let acc: Tensor | null = null;
  for (let i = 0; i < n; i++) {
    const cols = filters ? g.conv2d(xs[i]!, filters, undefined, { stride: strides, dilation: dilations, pad: reachedPads(k), groups: cin }) : xs[i]!;
    acc = g.gemm(g.reshape(dys[i]!, [cout, L]), g.reshape(cols, [cin * kh * kw, L]), { transB: true, ...(acc ? { c: acc } : {}) });
  }
  return g.reshape(acc!, [cout, cin, kh, kw]);
}

const INPUT_GRADIENTS: Record<ConvInputGradFormulation, (g: Graph, k: ConvGeometry) => Tensor> = {
  convTranspose: inputGradConvTranspose,
  conv: inputGradFlippedConv,
  depthwise: inputGradDepthwise,
  matmul: inputGradPointwise,
};

const WEIGHT_GRADIENTS: Record<ConvWeightGradFormulation, (g: Graph, k: ConvGeometry, chunkBytes: number) => Tensor> = {
  im2col: (g, k, chunk) => weightGradIm2col(g, k, 'im2col', chunk),
  'im2col-slices': (g, k, chunk) => weightGradIm2col(g, k, 'im2col-slices', chunk),
  'im2col-gemm': (g, k, chunk) => weightGradIm2col(g, k, 'im2col-gemm', chunk),
  'gemm-per-image': weightGradGemmPerImage,
  transposed: weightGradTransposedConv,
  grouped: weightGradGrouped,
  matmul: weightGradPointwise,
};
