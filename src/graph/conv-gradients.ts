// The gradients of a convolution, formulated per layer: the same math written with different ONNX ops, because
// ONNX Runtime's kernels differ by an order of magnitude between formulations on some shapes. `convGradients` is
// the one entry point the gradient table calls; `chooseConvGradients` is the one place that picks a formulation
// from the layer's shape. The measurements behind each choice are in bench/RESULTS.md ("Convolution gradients");
// bench/graph-layers.bench.ts measures every formulation against PyTorch's layer.
import type { Graph } from './builder.js';
import { int, ints, staticDim, transposedPads, type ConvGradientOptions, type GradContext } from './grad-context.js';
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

/** The formulations of the input gradient: ConvTranspose, the flipped-kernel Conv (stride 1), for depthwise
 *  layers the flipped-kernel depthwise Conv over dy with zeros inserted between its rows and columns (any stride),
 *  or for strided layers one small Conv per output phase interleaved by DepthToSpace ('phases'). */
export type ConvInputGradFormulation = 'convTranspose' | 'conv' | 'depthwise' | 'phases';
/** The formulations of the weight gradient; 'taps' (depthwise layers): one Mul and ReduceSum per kernel tap. */
export type ConvWeightGradFormulation = 'im2col' | 'im2col-slices' | 'im2col-gemm' | 'transposed' | 'taps';

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
 * The formulations for a layer: the requested ones, or for 'auto' the fastest measured on layers of its shape.
 * - Input gradient: a Conv with the flipped kernel beats ConvTranspose on 3x3 stride-1 layers with outputs of
 *   10x10 or more; 1x1 layers (a plain GEMM either way) and small maps keep ConvTranspose.
 * - Weight gradient: a Conv over transposed tensors where there are at most 4 input channels; im2col and one Gemm
 *   over the whole batch up to 48x48 outputs (where transposing the im2col matrix is cheap next to the product),
 *   unless the matrix is large and the output channels few (SSD300's head on conv4_3, whose im2col comes at the
 *   step's memory peak); im2col and a MatMul per image otherwise.
 */
export function chooseConvGradients(k: ConvGeometry, options: ConvGradientOptions): { input: ConvInputGradFormulation; weight: ConvWeightGradFormulation } {
  const depthwise = isDepthwise(k);
  const flippedFits = k.strides[0] === 1 && k.strides[1] === 1 && k.groups === 1 && flippedPads(k).every((p) => p >= 0);
  const requestedInput = options.convInputGrad ?? 'auto';
  let input: ConvInputGradFormulation;
  const unitStride = k.strides[0] === 1 && k.strides[1] === 1;
  const phasesFit = !unitStride && k.strides[0] === k.strides[1] && k.dilations[0] === 1 && k.dilations[1] === 1 && (k.groups === 1 || depthwise);
  if (requestedInput === 'depthwise') input = depthwise ? 'depthwise' : 'convTranspose';
  else if (requestedInput === 'phases') input = phasesFit ? 'phases' : 'convTranspose';
  else if (requestedInput === 'auto' && depthwise && unitStride) input = 'depthwise';
  else input = flippedFits && (requestedInput === 'conv' || (requestedInput === 'auto' && k.kernel[0] * k.kernel[1] > 1 && k.ho * k.wo >= 100)) ? 'conv' : 'convTranspose';
  const requestedWeight = options.convWeightGrad ?? 'auto';
  let weight: ConvWeightGradFormulation;
  if (requestedWeight !== 'auto') weight = requestedWeight;
  else if (k.groups === 1 && k.cin <= 4) weight = 'transposed';
  else if (k.groups === 1 && k.ho * k.wo <= 48 * 48 && (k.cout >= 256 || im2colBytes(k) <= 128 * 2 ** 20)) weight = 'im2col-gemm';
  else weight = 'im2col';
  if (weight === 'im2col-gemm' && k.groups !== 1) throw new Error(`gradients: the 'im2col-gemm' weight gradient needs groups 1, got ${k.groups}`);
  if (weight === 'taps' && !depthwise) throw new Error(`gradients: the 'taps' weight gradient is for depthwise convolutions (groups = channels), got groups ${k.groups} of ${k.cin} -> ${k.cout} channels`);
  return { input, weight };
}

/** A depthwise convolution: one input and one output channel per group. */
function isDepthwise(k: ConvGeometry): boolean {
  return k.groups > 1 && k.cinG === 1 && k.cout === k.groups;
}

/** The gradients of a Conv node's input and weight, in the formulations chosen for its shape. */
export function convGradients(c: GradContext, dy: Tensor): [Tensor, Tensor] {
  const k = convGeometry(c, dy);
  const chosen = chooseConvGradients(k, c.conv);
  const input =
    chosen.input === 'conv' ? inputGradFlippedConv(c.g, k) : chosen.input === 'depthwise' ? inputGradDepthwise(c.g, k) : chosen.input === 'phases' ? inputGradPhases(c.g, k) : inputGradConvTranspose(c.g, k);
  const weight =
    chosen.weight === 'taps'
      ? weightGradTaps(c.g, k)
      : chosen.weight === 'transposed' && k.groups === 1
        ? weightGradTransposedConv(c.g, k)
        : weightGradIm2col(c.g, k, chosen.weight, c.conv.im2colChunkBytes ?? IM2COL_CHUNK_BYTES);
  return [input, weight];
}

// ------------------------------------------------------------------ input gradient

/** Stride 1: the adjoint is a Conv with the kernel flipped in space and its channel axes swapped. */
function inputGradFlippedConv(g: Graph, k: ConvGeometry): Tensor {
  const [kh, kw] = k.kernel;
  const flipped = g.slice(k.w, [kh - 1, kw - 1], [-(2 ** 62), -(2 ** 62)], [2, 3], [-1, -1]);
  return g.conv2d(k.dy, g.transpose(flipped, [1, 0, 2, 3]), undefined, { pad: flippedPads(k), dilation: k.dilations });
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

/**
 * Depthwise, any stride: dy with (stride - 1) zeros inserted between its rows and columns, then the depthwise Conv
 * with the kernel flipped in space, padded (or cropped) to the input's size.
 */
function inputGradDepthwise(g: Graph, k: ConvGeometry): Tensor {
  const [kh, kw] = k.kernel;
  const [sh, sw] = k.strides;
  const [dh, dw] = k.dilations;
  const [pt, pl] = k.pads;
  let d = k.dy;
  if (sh > 1 || sw > 1) {
    // [N, C, Ho, Wo] -> [N, C, Ho, 1, Wo, 1] -> zeros after each value -> [N, C, Ho*sh, Wo*sw] -> drop the trailing zeros.
    const n = k.dy.shape[0]!;
    const spread = g.reshape(k.dy, [n, k.cout, k.ho, 1, k.wo, 1]);
    const pads = g.constant(BigInt64Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, sh - 1, 0, sw - 1], BigInt), { dtype: 'int64' });
    const padded = g.custom('Pad', [spread, pads], { mode: { type: 'string', value: 'constant' } }, [{ dtype: k.dy.dtype, shape: [n, k.cout, k.ho, sh, k.wo, sw] }])[0]!;
    d = g.slice(g.reshape(padded, [n, k.cout, k.ho * sh, k.wo * sw]), [0, 0], [(k.ho - 1) * sh + 1, (k.wo - 1) * sw + 1], [2, 3]);
  }
  // A stride-1 Conv over the spread dy (side D) returns D + a + b - dilation*(k-1) rows; a and b make that the input's side.
  const side = (size: number, out: number, stride: number, kernel: number, dil: number, p0: number): [number, number] => {
    const D = (out - 1) * stride + 1;
    const a = dil * (kernel - 1) - p0;
    return [a, size - D + p0];
  };
  const [a0, b0] = side(k.H, k.ho, sh, kh, dh, pt);
  const [a1, b1] = side(k.W, k.wo, sw, kw, dw, pl);
  const flipped = g.slice(k.w, [kh - 1, kw - 1], [-(2 ** 62), -(2 ** 62)], [2, 3], [-1, -1]);
  const pos = (v: number) => Math.max(0, v);
  const y = g.conv2d(d, flipped, undefined, { pad: [pos(a0), pos(a1), pos(b0), pos(b1)], dilation: k.dilations, groups: k.groups });
  // Negative padding means rows to crop.
  if (a0 < 0 || a1 < 0 || b0 < 0 || b1 < 0) return g.slice(y, [pos(-a0), pos(-a1)], [pos(-a0) + k.H, pos(-a1) + k.W], [2, 3]);
  return y;
}

/**
 * Strided, dilation 1: input position i = s*m + r receives from the taps k with (r + pad - k) divisible by s, at
 * dy[m + (r + pad - k)/s]. So each phase r (per axis) is a small stride-1 Conv of dy with those taps of the kernel
 * (channel axes swapped for a dense layer), and DepthToSpace interleaves the s*s phases into the input's grid.
 */
function inputGradPhases(g: Graph, k: ConvGeometry): Tensor {
  const [kh, kw] = k.kernel;
  const [sh, sw] = k.strides;
  const depthwise = k.groups > 1;
  const n = k.dy.shape[0]!;
  const cin = k.cin;
  // Per axis and phase: the taps (sorted by their offset into dy) and the pads that give ceil(size / s) rows.
  const phases = (size: number, out: number, stride: number, kernel: number, pad: number) => {
    const rows = Math.ceil(size / stride);
    return Array.from({ length: stride }, (_, r) => {
      const taps: { k: number; e: number }[] = [];
      for (let t = 0; t < kernel; t++) if ((((r + pad - t) % stride) + stride) % stride === 0) taps.push({ k: t, e: (r + pad - t) / stride });
      taps.sort((a, b) => a.e - b.e);
      const begin = taps.length ? -taps[0]!.e : 0;
      return { taps: taps.map((t) => t.k), begin, end: taps.length ? rows - out + taps.length - 1 - begin : 0 };
    });
  };
  const py = phases(k.H, k.ho, sh, kh, k.pads[0]);
  const px = phases(k.W, k.wo, sw, kw, k.pads[1]);
  const rows = Math.ceil(k.H / sh), cols = Math.ceil(k.W / sw);
  const wT = depthwise ? k.w : g.transpose(k.w, [1, 0, 2, 3]); // [Cin, Cout, kh, kw]: the adjoint's kernel
  const parts: Tensor[] = [];
  for (const y of py)
    for (const x of px) {
      if (y.taps.length === 0 || x.taps.length === 0) {
        parts.push(g.unsqueeze(g.zeros(g.constant(BigInt64Array.from([BigInt(n as number), BigInt(cin), BigInt(rows), BigInt(cols)]), { dtype: 'int64' }), [n, cin, rows, cols], k.dy.dtype), [2]));
        continue;
      }
      const sub = g.gather(g.gather(wT, g.constant(BigInt64Array.from(y.taps, BigInt), { dtype: 'int64' }), 2), g.constant(BigInt64Array.from(x.taps, BigInt), { dtype: 'int64' }), 3);
      // Negative pads (taps reaching past dy's start) never occur for pads below the kernel; crop if they would.
      const pads: [number, number, number, number] = [Math.max(0, y.begin), Math.max(0, x.begin), Math.max(0, y.end), Math.max(0, x.end)];
      let part = g.conv2d(k.dy, sub, undefined, { pad: pads, groups: depthwise ? k.groups : 1 });
      if (y.begin < 0 || x.begin < 0 || y.end < 0 || x.end < 0) part = g.slice(part, [Math.max(0, -y.begin), Math.max(0, -x.begin)], [Math.max(0, -y.begin) + rows, Math.max(0, -x.begin) + cols], [2, 3]);
      parts.push(g.unsqueeze(part, [2]));
    }
  // [N, Cin, sh*sw, rows, cols] -> [N, Cin*sh*sw, rows, cols] -> DepthToSpace (CRD: channel c*s*s + i*s + j).
  const stacked = g.reshape(g.concat(parts, 2), [n, cin * sh * sw, rows, cols]);
  if (sh !== sw) throw new Error(`gradients: the 'phases' input gradient needs equal strides, got [${sh}, ${sw}]`);
  const grid = g.custom('DepthToSpace', [stacked], { blocksize: { type: 'int', value: sh }, mode: { type: 'string', value: 'CRD' } }, [{ dtype: k.dy.dtype, shape: [n, cin, rows * sh, cols * sw] }])[0]!;
  return rows * sh === k.H && cols * sw === k.W ? grid : g.slice(grid, [0, 0], [k.H, k.W], [2, 3]);
}

// ------------------------------------------------------------------ weight gradient

/**
 * Depthwise: dW[c, 0, ky, kx] = sum over n, y, x of dy[n, c, y, x] * x_padded[n, c, y*s + ky*d, x*s + kx*d], one
 * strided Slice, Mul and ReduceSum per kernel tap.
 */
function weightGradTaps(g: Graph, k: ConvGeometry): Tensor {
  const [kh, kw] = k.kernel;
  const [sh, sw] = k.strides;
  const [dh, dw] = k.dilations;
  const p = k.pads;
  const padded = p.every((v) => v === 0)
    ? k.x
    : g.custom('Pad', [k.x, g.constant(BigInt64Array.from([0, 0, p[0], p[1], 0, 0, p[2], p[3]], BigInt), { dtype: 'int64' })], { mode: { type: 'string', value: 'constant' } }, [
        { dtype: k.x.dtype, shape: [k.x.shape[0]!, k.x.shape[1]!, k.H + p[0] + p[2], k.W + p[1] + p[3]] },
      ])[0]!;
  const taps: Tensor[] = [];
  for (let ky = 0; ky < kh; ky++)
    for (let kx = 0; kx < kw; kx++) {
      const y0 = ky * dh, x0 = kx * dw;
      const tap = g.slice(padded, [y0, x0], [y0 + sh * (k.ho - 1) + 1, x0 + sw * (k.wo - 1) + 1], [2, 3], [sh, sw]);
      taps.push(g.reshape(g.reduceSum(g.mul(k.dy, tap), [0, 2, 3], false), [k.cout, 1]));
    }
  return g.reshape(g.concat(taps, 1), [k.cout, 1, kh, kw]);
}


/** dW[co, ci] = Conv(x^T [Cin, N, H, W], dy^T [Cout, N, Ho, Wo]) with stride and dilation swapped (groups 1). */
function weightGradTransposedConv(g: Graph, k: ConvGeometry): Tensor {
  const [kh, kw] = k.kernel;
  const { strides, dilations, pads } = k;
  // Trim end padding the forward never reached so the result is exactly kh x kw (or slice below).
  const endPad = (size: number, out: number, kk: number, s: number, d: number, p0: number, p1: number) => Math.max(0, Math.min(p1, s * (out - 1) + d * (kk - 1) + 1 - p0 - size));
  const pb = endPad(k.H, k.ho, kh, strides[0], dilations[0], pads[0], pads[2]);
  const pr = endPad(k.W, k.wo, kw, strides[1], dilations[1], pads[1], pads[3]);
  const r = g.conv2d(g.transpose(k.x, [1, 0, 2, 3]), g.transpose(k.dy, [1, 0, 2, 3]), undefined, { stride: dilations, dilation: strides, pad: [pads[0], pads[1], pb, pr] });
  const trimmed = r.shape[2] !== kh || r.shape[3] !== kw ? g.slice(r, [0, 0], [kh, kw], [2, 3]) : r;
  return g.transpose(trimmed, [1, 0, 2, 3]);
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
  const { x, dy, cout, cinG, cin, groups, strides, dilations, pads, H, W, ho, wo } = k;
  const [kh, kw] = k.kernel;
  const kk = kh * kw;
  const unitConv = kk === 1 && strides[0] === 1 && strides[1] === 1 && pads.every((p) => p === 0);
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
