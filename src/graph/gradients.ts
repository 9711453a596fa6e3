// The gradient table: for each ONNX op we use, the gradients of its inputs given the gradients of its outputs,
// written with the same builder ops as the forward pass (tinygrad's gradient.py, for ONNX). `null` in the table
// means the op has no gradient (indices, comparisons, shapes); an op missing from the table has no rule, and
// autodiff.ts refuses to differentiate through it.
import type { Graph } from './builder.js';
import { shapeError } from './shape.js';
import type { Dim, GraphNode, Tensor } from './types.js';
import { fmtShape, numel } from './types.js';

/** How to compute a convolution's weight gradient: im2col by a one-hot grouped Conv ('im2col') or by k*k
 *  strided Slices of the padded input ('im2col-slices'), then one MatMul per image summed over the batch; im2col
 *  then one Gemm with the batch folded into its inner dimension ('im2col-gemm', groups 1); or a Conv over
 *  transposed tensors ('transposed'). */
export type ConvWeightGradMethod = 'auto' | 'im2col' | 'im2col-slices' | 'im2col-gemm' | 'transposed';
/** How to compute a convolution's input gradient: ConvTranspose, or (stride 1, groups 1) a Conv with the
 *  flipped, transposed kernel. */
export type ConvInputGradMethod = 'auto' | 'convTranspose' | 'conv';

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
  readonly convWeightGrad: ConvWeightGradMethod;
  readonly convInputGrad: ConvInputGradMethod;
  /** Upper bound on one im2col chunk in bytes (see IM2COL_CHUNK_BYTES). */
  readonly im2colChunkBytes?: number;
}

/** A rule returns dLoss/dInput for each input (null: none, or not differentiable). */
export type GradRule = (c: GradContext) => (Tensor | null)[];

// ------------------------------------------------------------------ helpers

const ints = (n: GraphNode, k: string, dflt: number[]): number[] => {
  const a = n.attrs[k];
  return a && a.type === 'ints' ? a.value : dflt;
};
const int = (n: GraphNode, k: string, dflt: number): number => {
  const a = n.attrs[k];
  return a && a.type === 'int' ? a.value : dflt;
};
const float = (n: GraphNode, k: string, dflt: number): number => {
  const a = n.attrs[k];
  return a && a.type === 'float' ? a.value : dflt;
};

/** The values of an int64 constant input (reduce axes, split sizes): the rule needs them at build time. */
function constInts(c: GradContext, i: number): number[] {
  const name = c.node.inputs[i]!;
  const k = c.g.constants.get(name);
  if (!k) throw new Error(`gradients: ${c.node.op} '${c.node.name}' input ${i} ('${name}') must be a constant to differentiate`);
  return Array.from(k.data as ArrayLike<number | bigint>, Number);
}

function staticDim(c: GradContext, d: Dim, what: string): number {
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
function reshapeLike(g: Graph, grad: Tensor, like: Tensor): Tensor {
  let inferred = 0;
  for (let i = 0; i < like.shape.length; i++) {
    const d = like.shape[i]!;
    if (typeof d === 'string' && grad.shape[i] !== d) inferred++;
  }
  if (inferred <= 1) return g.reshape(grad, like.shape);
  return g.reshape(grad, g.shapeOf(like), like.shape);
}

const axisOf = (c: GradContext): number => int(c.node, 'axis', 0);

/** The end padding and output padding that make ConvTranspose return exactly `size` along one dim. */
function transposedPads(outSize: number, size: number, kernel: number, stride: number, padBegin: number, dilation: number): [number, number] {
  const excess = stride * (outSize - 1) + dilation * (kernel - 1) + 1 - padBegin - size;
  return excess >= 0 ? [excess, 0] : [0, -excess];
}

// ------------------------------------------------------------------ convolution

function convInputGrad(c: GradContext, dy: Tensor): Tensor {
  const [x, w] = c.inputs as [Tensor, Tensor];
  const [kh, kw] = ints(c.node, 'kernel_shape', [w.shape[2] as number, w.shape[3] as number]) as [number, number];
  const [sh, sw] = ints(c.node, 'strides', [1, 1]) as [number, number];
  const [dh, dw] = ints(c.node, 'dilations', [1, 1]) as [number, number];
  const [pt, pl] = ints(c.node, 'pads', [0, 0, 0, 0]) as [number, number];
  const H = staticDim(c, x.shape[2]!, 'input height');
  const W = staticDim(c, x.shape[3]!, 'input width');
  const groups = int(c.node, 'group', 1);
  const [, , pbF, prF] = ints(c.node, 'pads', [0, 0, 0, 0]) as [number, number, number, number];
  const flipPads = [dh * (kh - 1) - pt, dw * (kw - 1) - pl, dh * (kh - 1) - pbF, dw * (kw - 1) - prF] as [number, number, number, number];
  const convOk = sh === 1 && sw === 1 && groups === 1 && flipPads.every((p) => p >= 0);
  // Batch 8 (bench/graph-layers.bench.ts): for 3x3 stride-1 layers with outputs of 10x10 or more the flipped-kernel
  // Conv beat ConvTranspose (conv1_2: 1.9 s vs 6.4 s, conv4_3: 1.9 vs 2.8 s); 1x1 layers (a plain GEMM) and tiny
  // maps (conv11_2: 0.5 vs 18 ms) keep ConvTranspose.
  const outArea = (dy.shape[2] as number) * (dy.shape[3] as number);
  const useConv = convOk && (c.convInputGrad === 'conv' || (c.convInputGrad === 'auto' && kh * kw > 1 && outArea >= 100));
  if (useConv) {
    // Stride 1: the adjoint is a Conv with the kernel flipped in space and its channel axes swapped.
    const g = c.g;
    const flipped = g.slice(w, [kh - 1, kw - 1], [-(2 ** 62), -(2 ** 62)], [2, 3], [-1, -1]);
    return g.conv2d(dy, g.transpose(flipped, [1, 0, 2, 3]), undefined, { pad: flipPads, dilation: [dh, dw] });
  }
  const [pb, oph] = transposedPads(staticDim(c, dy.shape[2]!, 'output height'), H, kh, sh, pt, dh);
  const [pr, opw] = transposedPads(staticDim(c, dy.shape[3]!, 'output width'), W, kw, sw, pl, dw);
  return c.g.convTranspose2d(dy, w, undefined, {
    stride: [sh, sw],
    dilation: [dh, dw],
    pad: [pt, pl, pb, pr],
    groups,
    outputPadding: [oph, opw],
  });
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

/** Default bound on one im2col chunk. The im2col matrix is built in chunks of output rows of at most this many bytes (batch 8 assumed when the
 *  batch is symbolic), so conv1_2's 1.66 GB at batch 8 becomes 7 passes of 240 MB. */
export const IM2COL_CHUNK_BYTES = 256 * 2 ** 20;

function convWeightGrad(c: GradContext, dy: Tensor): Tensor {
  const g = c.g;
  const [x, w] = c.inputs as [Tensor, Tensor];
  const [cout, cinG, kh, kw] = w.shape as [number, number, number, number];
  const strides = ints(c.node, 'strides', [1, 1]) as [number, number];
  const dilations = ints(c.node, 'dilations', [1, 1]) as [number, number];
  const pads = ints(c.node, 'pads', [0, 0, 0, 0]) as [number, number, number, number];
  const groups = int(c.node, 'group', 1);
  const cin = cinG * groups;
  const H = staticDim(c, x.shape[2]!, 'input height');
  const W = staticDim(c, x.shape[3]!, 'input width');
  const ho = staticDim(c, dy.shape[2]!, 'output height');
  const wo = staticDim(c, dy.shape[3]!, 'output width');
  let method = c.convWeightGrad;
  // Batch 8, 2 threads (bench/graph-layers.bench.ts): im2col beats a Conv over transposed tensors on every SSD300
  // layer with more than 3 input channels (conv1_2: 1.7 s vs 13.9 s; conv4_3: 3.0 s vs 9.0 s); the transposed Conv
  // wins on conv1_1 (3 channels: 295 vs 459-764 ms). After im2col, one Gemm over the whole batch beats a MatMul per
  // image and their sum up to 38x38 outputs (conv6: 281 vs 403 ms, conv4_3: 659 vs 734, conv7: 54 vs 77,
  // conv9_2: 3.5 vs 4.8), where transposing the im2col matrix is cheap next to the product; at 75x75 and more the
  // transpose costs more than the sum it saves (conv3_2: 876 vs 739 ms).
  // Not for the largest im2col matrix with few output channels (SSD300's head on conv4_3, 213 MB at batch 8): the
  // products per image and their sum are small there, and the head builds its im2col at the step's memory peak,
  // where the Gemm's transposed copy showed (peak 2.44 GB against 2.19 GB). The other heads take the Gemm (head7:
  // 75 against 128 ms, head9_2: 2.5 against 5.3 ms).
  const kk = kh * kw;
  const batch = typeof x.shape[0] === 'number' ? x.shape[0] : 8;
  const matrixBytes = batch * cin * kk * ho * wo * (x.dtype === 'float64' ? 8 : 4);
  const gemmFits = ho * wo <= 48 * 48 && (cout >= 256 || matrixBytes <= 128 * 2 ** 20);
  if (method === 'auto') method = groups === 1 && cin <= 4 ? 'transposed' : groups === 1 && gemmFits ? 'im2col-gemm' : 'im2col';
  if (method === 'im2col-gemm' && groups !== 1) throw new Error(`gradients: Conv '${c.node.name}': the 'im2col-gemm' weight gradient needs groups 1, got ${groups}`);
  if (method === 'transposed' && groups === 1) {
    // dW[co, ci] = Conv(x^T [Cin, N, H, W], dy^T [Cout, N, Ho, Wo]) with stride and dilation swapped.
    // Trim end padding the forward never reached so the result is exactly kh x kw (or slice below).
    const endPad = (size: number, out: number, k: number, s: number, d: number, p0: number, p1: number) =>
      Math.max(0, Math.min(p1, s * (out - 1) + d * (k - 1) + 1 - p0 - size));
    const pb = endPad(H, ho, kh, strides[0], dilations[0], pads[0], pads[2]);
    const pr = endPad(W, wo, kw, strides[1], dilations[1], pads[1], pads[3]);
    const r = g.conv2d(g.transpose(x, [1, 0, 2, 3]), g.transpose(dy, [1, 0, 2, 3]), undefined, {
      stride: dilations,
      dilation: strides,
      pad: [pads[0], pads[1], pb, pr],
    });
    const trimmed = r.shape[2] !== kh || r.shape[3] !== kw ? g.slice(r, [0, 0], [kh, kw], [2, 3]) : r;
    return g.transpose(trimmed, [1, 0, 2, 3]);
  }
  // im2col (a fixed one-hot grouped Conv, or strided Slices), then either one batched MatMul per group,
  // cols [N, G, CinG*kk, L] @ dy^T [N, G, L, CoutG] summed over N, or one Gemm dy [Cout, N*L] x cols [Cin*kk, N*L]^T;
  // in chunks of output rows to bound memory.
  const unitConv = kk === 1 && strides[0] === 1 && strides[1] === 1 && pads.every((p) => p === 0);
  const gemm = method === 'im2col-gemm';
  // The Gemm formulation holds the im2col matrix twice (as built and transposed), in chunks of half the bound:
  // the two copies together then take no more than the MatMul's matrix of a similar layer (head7 in one 212 MB
  // piece raised the step's peak from 2.19 to 2.34 GB; in two pieces, 2.19 GB).
  const colsBytes = matrixBytes * (gemm && !unitConv ? 4 : 1);
  const chunks = unitConv ? 1 : Math.min(ho, Math.ceil(colsBytes / (c.im2colChunkBytes ?? IM2COL_CHUNK_BYTES)));
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
    const chunkPads: [number, number, number, number] = [r0 - lo, pads[1], hi - r1, Math.max(0, Math.min(pads[3], strides[1] * (wo - 1) + dilations[1] * (kw - 1) + 1 - pads[1] - W))];
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

// ------------------------------------------------------------------ pooling

/** Divisor of each AveragePool window (build time), as PyTorch/ORT count it. */
function poolDivisors(size: number, out: number, k: number, s: number, p0: number, p1: number, includePad: boolean): number[] {
  const d: number[] = [];
  for (let o = 0; o < out; o++) {
    const start = o * s - p0;
    const end = Math.min(start + k, size + p1);
    d.push(includePad ? end - start : Math.min(end, size) - Math.max(start, 0));
  }
  return d;
}

function averagePoolGrad(c: GradContext, dy: Tensor): Tensor {
  const g = c.g;
  const x = c.inputs[0]!;
  const [kh, kw] = ints(c.node, 'kernel_shape', [1, 1]) as [number, number];
  const [sh, sw] = ints(c.node, 'strides', [kh, kw]) as [number, number];
  const [pt, pl, pb, pr] = ints(c.node, 'pads', [0, 0, 0, 0]) as [number, number, number, number];
  const includePad = int(c.node, 'count_include_pad', 0) === 1;
  const H = staticDim(c, x.shape[2]!, 'input height');
  const W = staticDim(c, x.shape[3]!, 'input width');
  const ho = staticDim(c, dy.shape[2]!, 'output height');
  const wo = staticDim(c, dy.shape[3]!, 'output width');
  const dvH = poolDivisors(H, ho, kh, sh, pt, pb, includePad);
  const dvW = poolDivisors(W, wo, kw, sw, pl, pr, includePad);
  const inv = new Float32Array(ho * wo);
  for (let i = 0; i < ho; i++) for (let j = 0; j < wo; j++) inv[i * wo + j] = 1 / (dvH[i]! * dvW[j]!);
  const scaled = g.mul(dy, g.constant(x.dtype === 'float64' ? Float64Array.from(inv) : inv, { shape: [ho, wo], dtype: x.dtype }));
  // Spread each window's share back with a ConvTranspose of ones over [N*C, 1, Ho, Wo].
  const ones = g.constant(new Float32Array(kh * kw).fill(1), { shape: [1, 1, kh, kw], dtype: x.dtype });
  const [pbE, oph] = transposedPads(ho, H, kh, sh, pt, 1);
  const [prE, opw] = transposedPads(wo, W, kw, sw, pl, 1);
  const spread = g.convTranspose2d(g.reshape(scaled, [-1, 1, ho, wo]), ones, undefined, {
    stride: [sh, sw],
    pad: [pt, pl, pbE, prE],
    outputPadding: [oph, opw],
  });
  return reshapeLike(g, spread, x);
}

function maxPoolGrad(c: GradContext, dy: Tensor): Tensor {
  const g = c.g;
  const x = c.inputs[0]!;
  // MaxPool's Indices output: flat positions in x (over N, C, H, W).
  const indices = g.requireNodeOutput(c.nodeIndex, 1, 'int64', c.outputs[0]!.shape);
  const k = ints(c.node, 'kernel_shape', [1, 1]);
  const s = ints(c.node, 'strides', k);
  const pads = ints(c.node, 'pads', [0, 0, 0, 0]);
  const tiles = (i: 0 | 1) => k[i] === s[i] && typeof x.shape[i + 2] === 'number' && typeof dy.shape[i + 2] === 'number' && ((dy.shape[i + 2] as number) - 1) * s[i]! + k[i]! === x.shape[i + 2];
  if (x.dtype === 'float32' && pads.every((p) => p === 0) && tiles(0) && tiles(1)) {
    // Windows tile x exactly (pool1, pool2, pool4 of SSD300): every index is unique and MaxUnpool places dy at
    // them, 1.5-2x faster than the scatter below (pool1 at batch 8: 1.5-2.4 s vs 2.9-4.0 s, loaded machine).
    return g.custom('MaxUnpool', [dy, indices], { kernel_shape: { type: 'ints', value: k }, strides: { type: 'ints', value: s } }, [{ dtype: x.dtype, shape: x.shape }])[0]!;
  }
  // Overlapping windows (pool5: 3x3 stride 1) repeat an index, so the scatter must add.
  const n = x.shape.every((d) => typeof d === 'number') ? numel(x.shape as number[]) : g.freshDim();
  const zeros = g.zeros(g.reshape(g.sizeOf(x), [1]), [n], x.dtype);
  const flat = g.scatterElements(zeros, g.reshape(indices, [-1]), g.reshape(dy, [-1]), 0, 'add');
  return reshapeLike(g, flat, x);
}

// ------------------------------------------------------------------ reductions

function reduceAxes(c: GradContext): number[] {
  const x = c.inputs[0]!;
  return constInts(c, 1).map((a) => (a < 0 ? a + x.shape.length : a));
}

/** dy with the reduced axes restored as size-1 dims. */
function keepDims(c: GradContext, t: Tensor): Tensor {
  return int(c.node, 'keepdims', 1) ? t : c.g.unsqueeze(t, reduceAxes(c));
}

function reduceCount(c: GradContext): Tensor | number {
  const x = c.inputs[0]!;
  const dims = reduceAxes(c).map((a) => x.shape[a]!);
  if (dims.every((d) => typeof d === 'number')) return numel(dims as number[]);
  const g = c.g;
  return g.div(g.cast(g.sizeOf(x), x.dtype), g.cast(g.sizeOf(c.outputs[0]!), x.dtype));
}

// ------------------------------------------------------------------ indexing

function gatherGrad(c: GradContext, dy: Tensor): Tensor {
  const g = c.g;
  const [x, idx] = c.inputs as [Tensor, Tensor];
  const axis = axisOf(c);
  const r = idx.shape.length;
  const rank = x.shape.length;
  const idx64 = g.unsqueeze(idx.dtype === 'int64' ? idx : g.cast(idx, 'int64'), [-1]);
  if (axis === 0) return g.scatterND(g.zerosLike(x), idx64, dy, 'add');
  // Move the gathered axis to the front, scatter rows, move it back.
  const xPerm = [axis, ...[...Array(rank).keys()].filter((i) => i !== axis)];
  const dyPerm = [...Array(r).keys()].map((i) => i + axis);
  dyPerm.push(...[...Array(axis).keys()], ...[...Array(dy.shape.length - axis - r).keys()].map((i) => i + axis + r));
  const tShape = xPerm.map((p) => x.shape[p]!);
  const shapeT = g.gather(g.shapeOf(x), g.constant(BigInt64Array.from(xPerm, BigInt), { dtype: 'int64' }), 0);
  const zeros = g.zeros(shapeT, tShape, x.dtype);
  const scattered = g.scatterND(zeros, idx64, g.transpose(dy, dyPerm), 'add');
  const inv = xPerm.map((_, i) => xPerm.indexOf(i));
  return g.transpose(scattered, inv);
}

function sliceGrad(c: GradContext, dy: Tensor): Tensor {
  const g = c.g;
  const x = c.inputs[0]!;
  const starts = constInts(c, 1);
  const ends = constInts(c, 2);
  const axes = c.node.inputs[3] ? constInts(c, 3) : starts.map((_, i) => i);
  const steps = c.node.inputs[4] ? constInts(c, 4) : starts.map(() => 1);
  const rank = x.shape.length;
  const pads = new Array<number>(2 * rank).fill(0);
  axes.forEach((a0, i) => {
    const a = a0 < 0 ? a0 + rank : a0;
    if (steps[i] !== 1) throw new Error(`gradients: Slice '${c.node.name}' with step ${steps[i]} has no gradient rule (only step 1)`);
    const size = staticDim(c, x.shape[a]!, `dim ${a}`);
    const clampIdx = (v: number) => Math.min(Math.max(v < 0 ? v + size : v, 0), size);
    const s = clampIdx(starts[i]!);
    const e = Math.max(clampIdx(ends[i]!), s);
    pads[a] = s;
    pads[a + rank] = size - e;
  });
  const padsT = g.constant(BigInt64Array.from(pads, BigInt), { dtype: 'int64' });
  return g.custom('Pad', [dy, padsT], { mode: { type: 'string', value: 'constant' } }, [{ dtype: x.dtype, shape: x.shape }])[0]!;
}

// ------------------------------------------------------------------ the table

const lastTwo = (g: Graph, t: Tensor): Tensor => {
  const perm = [...t.shape.keys()];
  perm.push(perm.splice(-2, 1)[0]!);
  return g.transpose(t, perm);
};

/** dy where `mask` holds, else 0, as dy * float(mask): ORT's Where is 2-3x slower than Cast + Mul on large
 *  tensors (ReLU backward on [8,64,300,300]: about 340 ms against 150 ms over the same baseline, 2 threads), and
 *  SSD300 runs 23 of them per step. */
function passWhere(g: Graph, mask: Tensor, dy: Tensor): Tensor {
  return g.mul(dy, g.cast(mask, dy.dtype));
}

/** Binary elementwise rule: compute both gradients at the output's shape, then sum each back to its input's. */
const binary =
  (f: (g: Graph, dy: Tensor, a: Tensor, b: Tensor, y: Tensor) => [Tensor | null, Tensor | null]): GradRule =>
  (c) => {
    const [a, b] = c.inputs as [Tensor, Tensor];
    const [da, db] = f(c.g, c.grads[0]!, a, b, c.outputs[0]!);
    return [da && unbroadcast(c.g, da, a.shape), db && unbroadcast(c.g, db, b.shape)];
  };

/**
 * op type -> rule. `null`: the op has no gradient (its outputs are constants as far as training goes).
 * Rules use c.grads[0] (dy) unless the op has several outputs.
 */
export const GRADIENTS: Record<string, GradRule | null> = {
  Conv: (c) => [convInputGrad(c, c.grads[0]!), convWeightGrad(c, c.grads[0]!), c.inputs[2] ? c.g.reduceSum(c.grads[0]!, [0, 2, 3]) : null],
  MaxPool: (c) => [maxPoolGrad(c, c.grads[0]!)],
  AveragePool: (c) => [averagePoolGrad(c, c.grads[0]!)],
  GlobalAveragePool: (c) => {
    const x = c.inputs[0]!;
    const hw = staticDim(c, x.shape[2]!, 'height') * staticDim(c, x.shape[3]!, 'width');
    return [c.g.expand(c.g.div(c.grads[0]!, hw), c.g.shapeOf(x), x.shape)];
  },
  // Relu and Clip test their output, not their input (y > 0 exactly when x > 0), so the input - usually a conv's
  // output - need not stay alive until the backward pass: as PyTorch's in-place ReLU, this halves the
  // activations kept for VGG.
  Relu: (c) => [passWhere(c.g, c.g.greater(c.outputs[0]!, 0), c.grads[0]!)],
  // Clip passes the gradient strictly inside (min, max), as PyTorch's hardtanh/relu6 backward.
  Clip: (c) => {
    const g = c.g;
    const [, lo, hi] = c.inputs as [Tensor, Tensor | null, Tensor | null];
    const x = c.outputs[0]!;
    let inside: Tensor | null = null;
    if (lo) inside = g.greater(x, lo);
    if (hi) inside = inside ? g.and(inside, g.less(x, hi)) : g.less(x, hi);
    return [inside ? passWhere(g, inside, c.grads[0]!) : c.grads[0]!, null, null];
  },
  Sigmoid: (c) => {
    const y = c.outputs[0]!;
    return [c.g.mul(c.grads[0]!, c.g.mul(y, c.g.sub(1, y)))];
  },
  Tanh: (c) => [c.g.mul(c.grads[0]!, c.g.sub(1, c.g.mul(c.outputs[0]!, c.outputs[0]!)))],
  Exp: (c) => [c.g.mul(c.grads[0]!, c.outputs[0]!)],
  Log: (c) => [c.g.div(c.grads[0]!, c.inputs[0]!)],
  Sqrt: (c) => [c.g.div(c.g.mul(c.grads[0]!, 0.5), c.outputs[0]!)],
  Abs: (c) => [c.g.mul(c.grads[0]!, c.g.sign(c.inputs[0]!))],
  Neg: (c) => [c.g.neg(c.grads[0]!)],
  Reciprocal: (c) => [c.g.neg(c.g.mul(c.grads[0]!, c.g.mul(c.outputs[0]!, c.outputs[0]!)))],
  Add: binary((_, dy) => [dy, dy]),
  Sub: binary((g, dy) => [dy, g.neg(dy)]),
  Mul: binary((g, dy, a, b) => [g.mul(dy, b), g.mul(dy, a)]),
  Div: binary((g, dy, _a, b, y) => [g.div(dy, b), g.neg(g.div(g.mul(dy, y), b))]),
  Pow: binary((g, dy, a, b, y) => [g.mul(dy, g.mul(b, g.pow(a, g.sub(b, 1)))), g.mul(dy, g.mul(y, g.log(a)))]),
  Max: binary((g, dy, a, b) => {
    const m = g.greaterOrEqual(a, b);
    return [g.where(m, dy, 0), g.where(m, 0, dy)];
  }),
  Min: binary((g, dy, a, b) => {
    const m = g.lessOrEqual(a, b);
    return [g.where(m, dy, 0), g.where(m, 0, dy)];
  }),
  Where: (c) => {
    const [cond, a, b] = c.inputs as [Tensor, Tensor, Tensor];
    const g = c.g;
    const dy = c.grads[0]!;
    return [null, unbroadcast(g, g.where(cond, dy, 0), a.shape), unbroadcast(g, g.where(cond, 0, dy), b.shape)];
  },
  MatMul: (c) => {
    const [a, b] = c.inputs as [Tensor, Tensor];
    const g = c.g;
    const dy = c.grads[0]!;
    return [unbroadcast(g, g.matmul(dy, lastTwo(g, b)), a.shape), unbroadcast(g, g.matmul(lastTwo(g, a), dy), b.shape)];
  },
  Gemm: (c) => {
    const [a, b, cc] = c.inputs as [Tensor, Tensor, Tensor | null];
    const g = c.g;
    const dy = c.grads[0]!;
    const ta = int(c.node, 'transA', 0) === 1;
    const tb = int(c.node, 'transB', 0) === 1;
    const alpha = float(c.node, 'alpha', 1);
    const beta = float(c.node, 'beta', 1);
    // With A' = op(A), B' = op(B): dA' = alpha dY B'^T and dB' = alpha A'^T dY, each written as one Gemm.
    const da = ta ? g.gemm(b, dy, { transA: tb, transB: true, alpha }) : g.gemm(dy, b, { transB: !tb, alpha });
    const db = tb ? g.gemm(dy, a, { transA: true, transB: ta, alpha }) : g.gemm(a, dy, { transA: !ta, alpha });
    return [da, db, cc ? unbroadcast(g, beta === 1 ? dy : g.mul(dy, beta), cc.shape) : null];
  },
  ReduceSum: (c) => [c.g.expand(keepDims(c, c.grads[0]!), c.g.shapeOf(c.inputs[0]!), c.inputs[0]!.shape), null],
  ReduceMean: (c) => [c.g.expand(c.g.div(keepDims(c, c.grads[0]!), reduceCount(c)), c.g.shapeOf(c.inputs[0]!), c.inputs[0]!.shape), null],
  // Ties share the gradient equally (as tinygrad).
  ReduceMax: (c) => {
    const g = c.g;
    const x = c.inputs[0]!;
    const mask = g.cast(g.equal(x, keepDims(c, c.outputs[0]!)), x.dtype);
    const share = g.div(mask, g.reduceSum(mask, reduceAxes(c), true));
    return [g.mul(share, keepDims(c, c.grads[0]!)), null];
  },
  Concat: (c) => {
    const axis = axisOf(c);
    const sizes = c.inputs.map((t) => staticDim(c, t!.shape[axis]!, `concat dim ${axis}`));
    return c.g.split(c.grads[0]!, sizes, axis);
  },
  Split: (c) => {
    const g = c.g;
    const parts = c.outputs.map((o, i) => c.grads[i] ?? g.zerosLike(o));
    return [g.concat(parts, axisOf(c)), null];
  },
  Slice: (c) => [sliceGrad(c, c.grads[0]!), null, null, null, null],
  Reshape: (c) => [reshapeLike(c.g, c.grads[0]!, c.inputs[0]!), null],
  Flatten: (c) => [reshapeLike(c.g, c.grads[0]!, c.inputs[0]!)],
  Squeeze: (c) => [reshapeLike(c.g, c.grads[0]!, c.inputs[0]!), null],
  Unsqueeze: (c) => [reshapeLike(c.g, c.grads[0]!, c.inputs[0]!), null],
  Transpose: (c) => {
    const perm = ints(c.node, 'perm', []);
    return [c.g.transpose(c.grads[0]!, perm.map((_, i) => perm.indexOf(i)))];
  },
  Expand: (c) => [unbroadcast(c.g, c.grads[0]!, c.inputs[0]!.shape), null],
  Identity: (c) => [c.grads[0]!],
  Softmax: (c) => {
    const g = c.g;
    const y = c.outputs[0]!;
    const dy = c.grads[0]!;
    return [g.mul(y, g.sub(dy, g.reduceSum(g.mul(dy, y), [axisOf(c)], true)))];
  },
  LogSoftmax: (c) => {
    const g = c.g;
    const dy = c.grads[0]!;
    return [g.sub(dy, g.mul(g.exp(c.outputs[0]!), g.reduceSum(dy, [axisOf(c)], true)))];
  },
  Gather: (c) => [gatherGrad(c, c.grads[0]!), null],
  GatherElements: (c) => {
    const [x, idx] = c.inputs as [Tensor, Tensor];
    return [c.g.scatterElements(c.g.zerosLike(x), idx, c.grads[0]!, axisOf(c), 'add'), null];
  },
  // TopK: the values' gradient goes back to where they came from; the indices have none.
  TopK: (c) => {
    const x = c.inputs[0]!;
    return c.grads[0] ? [c.g.scatterElements(c.g.zerosLike(x), c.outputs[1]!, c.grads[0], axisOf(c), 'add'), null] : [null, null];
  },
  Cast: (c) => {
    const x = c.inputs[0]!;
    const y = c.outputs[0]!;
    const float = (d: string) => d === 'float32' || d === 'float64';
    return [float(x.dtype) && float(y.dtype) ? c.g.cast(c.grads[0]!, x.dtype) : null];
  },
  // Inference-mode batch norm (frozen statistics): y = (x - mean) / sqrt(var + eps) * scale + bias.
  BatchNormalization: (c) => {
    const g = c.g;
    const [x, scale, , mean, variance] = c.inputs as [Tensor, Tensor, Tensor, Tensor, Tensor];
    const dy = c.grads[0]!;
    const bshape: Dim[] = [1, x.shape[1]!, ...x.shape.slice(2).map(() => 1)];
    const axes = [0, ...x.shape.slice(2).map((_, i) => i + 2)];
    const inv = g.reshape(g.reciprocal(g.sqrt(g.add(variance, float(c.node, 'epsilon', 1e-5)))), bshape);
    const xhat = g.mul(g.sub(x, g.reshape(mean, bshape)), inv);
    return [g.mul(dy, g.mul(g.reshape(scale, bshape), inv)), g.reduceSum(g.mul(dy, xhat), axes), g.reduceSum(dy, axes), null, null];
  },

  // No gradient.
  Detach: null,
  Less: null,
  Greater: null,
  LessOrEqual: null,
  GreaterOrEqual: null,
  Equal: null,
  And: null,
  Or: null,
  Not: null,
  Sign: null,
  Shape: null,
  Size: null,
  ArgMax: null,
  ScatterElements: null,
  ScatterND: null,
  ConstantOfShape: null,
};

/** The rule for a node: undefined when the table has none, null when the op has no gradient. */
export function ruleFor(node: GraphNode): GradRule | null | undefined {
  const key = node.gradKey ?? node.op;
  return Object.prototype.hasOwnProperty.call(GRADIENTS, key) ? GRADIENTS[key] : undefined;
}

/** Checks that a rule returned a gradient shaped like its input (catches rule bugs early). */
export function checkGradShape(node: GraphNode, input: Tensor, grad: Tensor): void {
  if (grad.dtype !== input.dtype) shapeError(`gradients (${node.op} '${node.name}')`, `gradient dtype ${grad.dtype} for input '${input.name}' of dtype ${input.dtype}`);
  const bad =
    grad.shape.length !== input.shape.length ||
    grad.shape.some((d, i) => typeof d === 'number' && typeof input.shape[i] === 'number' && d !== input.shape[i]);
  if (bad) shapeError(`gradients (${node.op} '${node.name}')`, `gradient ${fmtShape(grad.shape)} for input '${input.name}' ${fmtShape(input.shape)}`);
}
