// The gradient table: for each ONNX op we use, the gradients of its inputs given the gradients of its outputs,
// written with the same builder ops as the forward pass (tinygrad's gradient.py, for ONNX). `null` in the table
// means the op has no gradient (indices, comparisons, shapes); an op missing from the table has no rule, and
// autodiff.ts refuses to differentiate through it. Convolutions call their own module (conv-gradients.ts), which
// picks a formulation per layer shape.
import type { Graph } from './builder.js';
import { convGradients } from './conv-gradients.js';
import { axisOf, constInts, float, int, ints, reshapeLike, staticDim, transposedPads, unbroadcast, type GradContext, type GradRule } from './grad-context.js';
import { shapeError } from './shape.js';
import type { Dim, GraphNode, Tensor } from './types.js';
import { fmtShape, numel } from './types.js';

export type { GradContext, GradRule } from './grad-context.js';
export { unbroadcast } from './grad-context.js';

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
  Conv: (c) => [...convGradients(c, c.grads[0]!), c.inputs[2] ? c.g.reduceSum(c.grads[0]!, [0, 2, 3]) : null],
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
