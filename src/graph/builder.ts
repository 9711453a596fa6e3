// The typed graph builder: tensors with dtypes and (partly symbolic) shapes, parameters with their initial
// values, and ONNX ops as methods. Every op checks its inputs when it is called, so a wrong shape fails where
// the network is written, with the op's name and the shapes in the message. `toModelProto()` (onnx.ts) turns
// the recorded nodes into a standard ONNX model.
import type { AttrValue, ConstantData, Dim, DType, GraphNode, Parameter, Tensor, TypedArray } from './types.js';
import { fmtShape, isFloat, numel, ONNX_TYPE } from './types.js';
import { toBytes, toModelProto, type onnx, type SerializeOptions } from './onnx.js';
import { broadcastShapes, dimProduct, dimSum, dimsConflict, normAxis, shapeError, windowOut } from './shape.js';

type Pair = number | [number, number];
type Pads = number | [number, number, number, number];

/** Options of `conv2d`/`convTranspose2d`. `pad` is [top, left, bottom, right] (ONNX order) or one number. */
export interface Conv2dOptions {
  stride?: Pair;
  pad?: Pads;
  dilation?: Pair;
  groups?: number;
}

/** Options of `maxPool`/`averagePool`. `stride` defaults to the kernel; `pad` as in Conv2dOptions. */
export interface Pool2dOptions {
  kernel: Pair;
  stride?: Pair;
  pad?: Pads;
  ceilMode?: boolean;
}

/** Options of `batchNorm`. Training mode normalises with the batch statistics and returns the updated running
 *  statistics (PyTorch semantics: running = (1 - momentum) * running + momentum * batch, unbiased variance). */
export interface BatchNormOptions {
  training: boolean;
  momentum?: number; // 0.1 (PyTorch's convention)
  epsilon?: number; // 1e-5
}

/** How a tensor entered the graph. */
export type TensorKind = 'input' | 'parameter' | 'constant' | 'node';

/** The builder's record of a tensor. */
export interface TensorEntry {
  readonly tensor: Tensor;
  readonly kind: TensorKind;
  /** Index of the producing node in `nodes` (kind 'node'), else -1. */
  producer: number;
  /** Which output of the producer. */
  outputIndex: number;
}

const pair = (v: Pair | undefined, dflt: number): [number, number] =>
  v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : [v[0], v[1]];
const pads4 = (v: Pads | undefined): [number, number, number, number] =>
  v === undefined ? [0, 0, 0, 0] : typeof v === 'number' ? [v, v, v, v] : [v[0], v[1], v[2], v[3]];

const ints = (value: number[]): AttrValue => ({ type: 'ints', value });
const int = (value: number): AttrValue => ({ type: 'int', value });
const float = (value: number): AttrValue => ({ type: 'float', value });
const str = (value: string): AttrValue => ({ type: 'string', value });

/**
 * A graph under construction. Leaves are inputs, parameters and constants; every op method appends one ONNX
 * node (or a few) and returns its output tensor(s). Tensors are plain immutable records identified by name.
 */
export class Graph {
  readonly name: string;
  private readonly entries = new Map<string, TensorEntry>();
  private readonly nodeList: GraphNode[] = [];
  private readonly inputList: Tensor[] = [];
  private readonly paramList: Parameter[] = [];
  private readonly constantMap = new Map<string, ConstantData>();
  private readonly outputList: { name: string; tensor: Tensor }[] = [];
  private counter = 0;
  private prefix = '';

  constructor(name = 'graph') {
    this.name = name;
  }

  // ---------------------------------------------------------------- introspection

  /** Parameters in creation order. */
  get parameters(): readonly Parameter[] {
    return this.paramList;
  }
  /** Graph inputs (not parameters) in creation order. */
  get inputs(): readonly Tensor[] {
    return this.inputList;
  }
  /** Declared outputs, in order. */
  get outputs(): readonly { name: string; tensor: Tensor }[] {
    return this.outputList;
  }
  /** The recorded nodes in creation (hence topological) order. */
  get nodes(): readonly GraphNode[] {
    return this.nodeList;
  }
  /** Constants by name. */
  get constants(): ReadonlyMap<string, ConstantData> {
    return this.constantMap;
  }
  /** Looks a tensor up by name; undefined when the graph has none by that name. */
  tensor(name: string): Tensor | undefined {
    return this.entries.get(name)?.tensor;
  }
  /** How a tensor entered the graph and, for a node output, which node produced it. */
  origin(t: Tensor): { kind: TensorKind; node?: GraphNode; nodeIndex: number; outputIndex: number } {
    const e = this.entry('origin', t);
    return e.producer >= 0
      ? { kind: e.kind, node: this.nodeList[e.producer]!, nodeIndex: e.producer, outputIndex: e.outputIndex }
      : { kind: e.kind, nodeIndex: -1, outputIndex: 0 };
  }

  /** A deep-enough copy: new node list and registries, sharing the immutable tensors and node records. */
  clone(name = this.name): Graph {
    const g = new Graph(name);
    for (const [k, e] of this.entries) g.entries.set(k, { ...e });
    g.nodeList.push(...this.nodeList);
    g.inputList.push(...this.inputList);
    g.paramList.push(...this.paramList);
    for (const [k, c] of this.constantMap) g.constantMap.set(k, c);
    g.outputList.push(...this.outputList);
    g.counter = this.counter;
    return g;
  }

  /** Runs `fn` with node names prefixed by `prefix/` (names show up in ORT profiles and error messages). */
  scope<T>(prefix: string, fn: () => T): T {
    const saved = this.prefix;
    this.prefix = saved ? `${saved}/${prefix}` : prefix;
    try {
      return fn();
    } finally {
      this.prefix = saved;
    }
  }

  // ---------------------------------------------------------------- leaves

  /** A graph input fed at run time. String dims are symbolic (e.g. 'N'). */
  input(name: string, dtype: DType, shape: Dim[]): Tensor {
    const t = this.register(name, dtype, shape, 'input');
    this.inputList.push(t);
    return t;
  }

  /** A trainable float32 parameter with its initial value; `group` (default 'weight') selects optimizer settings. */
  parameter(name: string, shape: number[], init: Float32Array, opts: { group?: string } = {}): Parameter {
    for (const d of shape)
      if (!Number.isInteger(d) || d <= 0) shapeError('parameter', `'${name}' has invalid shape ${fmtShape(shape)}`);
    if (init.length !== numel(shape))
      shapeError('parameter', `'${name}' has shape ${fmtShape(shape)} (${numel(shape)} values) but init has ${init.length}`);
    if (this.entries.has(name)) throw new Error(`parameter: the graph already has a tensor named '${name}'`);
    const p: Parameter = Object.freeze({
      name,
      dtype: 'float32' as const,
      shape: Object.freeze([...shape]),
      init,
      group: opts.group ?? 'weight',
    });
    this.entries.set(name, { tensor: p, kind: 'parameter', producer: -1, outputIndex: 0 });
    this.paramList.push(p);
    return p;
  }

  /**
   * A constant. A number gives a scalar (shape []), a number[] a 1-D tensor, a typed array a 1-D tensor unless
   * `shape` is given. dtype defaults to the array's (float32 for numbers).
   */
  constant(
    value: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | number | number[],
    opts: { shape?: number[]; dtype?: DType; name?: string } = {},
  ): Tensor {
    let dtype: DType =
      opts.dtype ??
      (value instanceof Float64Array
        ? 'float64'
        : value instanceof Int32Array
          ? 'int32'
          : value instanceof BigInt64Array
            ? 'int64'
            : value instanceof Uint8Array
              ? 'bool'
              : 'float32');
    const values: ArrayLike<number | bigint> = typeof value === 'number' ? [value] : value;
    const shape = opts.shape ?? (typeof value === 'number' ? [] : [values.length]);
    if (numel(shape) !== values.length)
      shapeError('constant', `shape ${fmtShape(shape)} needs ${numel(shape)} values, got ${values.length}`);
    const data = convert(values, dtype);
    const name = opts.name ?? this.fresh('const');
    const t = this.register(name, dtype, shape, 'constant');
    this.constantMap.set(name, { data, dtype, shape: [...shape] });
    return t;
  }

  /** Marks `t` as a graph output under `name` (an Identity node renames it when the names differ). */
  output(t: Tensor, name: string): void {
    this.entry('output', t);
    if (this.outputList.some((o) => o.name === name)) throw new Error(`output: the graph already has an output named '${name}'`);
    const out = name === t.name ? t : this.emit('Identity', [t], {}, [{ dtype: t.dtype, shape: t.shape }], undefined, name)[0]!;
    this.outputList.push({ name, tensor: out });
  }

  /**
   * Declares node output `t` as output `name` without an Identity copy: the node that produces `t` writes `name`
   * directly, and every node that reads `t` reads `name`. For outputs bound to buffers the caller owns (a training
   * session's optimizer state). Returns the tensor under its new name; `t` no longer names a tensor of the graph.
   */
  outputRenamed(t: Tensor, name: string): Tensor {
    const e = this.entry('outputRenamed', t);
    if (e.kind !== 'node') throw new Error(`outputRenamed: '${t.name}' is a graph ${e.kind}, not a node output`);
    if (this.entries.has(name)) throw new Error(`outputRenamed: the graph already has a tensor named '${name}'`);
    if (this.outputList.some((o) => o.tensor.name === t.name)) throw new Error(`outputRenamed: '${t.name}' is already an output`);
    const renamed: Tensor = Object.freeze({ ...t, name });
    this.entries.delete(t.name);
    this.entries.set(name, { ...e, tensor: renamed });
    const swap = (names: readonly string[]): string[] => names.map((n) => (n === t.name ? name : n));
    for (let i = 0; i < this.nodeList.length; i++) {
      const node = this.nodeList[i]!;
      // Nodes are shared with clones of this graph: replace them, never edit them.
      if (i === e.producer || node.inputs.includes(t.name)) this.nodeList[i] = { ...node, inputs: swap(node.inputs), outputs: swap(node.outputs) };
    }
    this.outputList.push({ name, tensor: renamed });
    return renamed;
  }

  // ---------------------------------------------------------------- convolution and pooling

  /** 2-D convolution. x [N, Cin, H, W], w [Cout, Cin/groups, kh, kw], b [Cout] -> [N, Cout, Ho, Wo]. */
  conv2d(x: Tensor, w: Tensor, b?: Tensor, o: Conv2dOptions = {}): Tensor {
    const op = 'conv2d';
    this.rank(op, 'x', x, 4);
    this.rank(op, 'w', w, 4);
    this.sameFloat(op, x, w);
    const groups = o.groups ?? 1;
    const [cout, cinPerGroup, kh, kw] = w.shape;
    if (typeof kh !== 'number' || typeof kw !== 'number' || typeof cout !== 'number')
      shapeError(op, `weight shape ${fmtShape(w.shape)} must have static output channels and kernel size`);
    if (typeof cinPerGroup === 'number' && dimsConflict(x.shape[1]!, cinPerGroup * groups))
      shapeError(op, `input ${fmtShape(x.shape)} has ${x.shape[1]} channels but weight ${fmtShape(w.shape)} with groups ${groups} expects ${(cinPerGroup as number) * groups}`);
    if (cout % groups !== 0) shapeError(op, `weight ${fmtShape(w.shape)}: ${cout} output channels not divisible by groups ${groups}`);
    if (b) {
      this.rank(op, 'bias', b, 1);
      this.sameFloat(op, x, b);
      if (dimsConflict(b.shape[0]!, cout)) shapeError(op, `bias ${fmtShape(b.shape)} does not match weight ${fmtShape(w.shape)}`);
    }
    const s = pair(o.stride, 1);
    const d = pair(o.dilation, 1);
    const p = pads4(o.pad);
    const ho = windowOut(op, x.shape[2]!, kh, s[0], p[0], p[2], d[0], false, this.freshDim);
    const wo = windowOut(op, x.shape[3]!, kw, s[1], p[1], p[3], d[1], false, this.freshDim);
    const attrs = { kernel_shape: ints([kh, kw]), strides: ints(s), pads: ints(p), dilations: ints(d), group: int(groups) };
    return this.emit('Conv', b ? [x, w, b] : [x, w], attrs, [{ dtype: x.dtype, shape: [x.shape[0]!, cout, ho, wo] }])[0]!;
  }

  /**
   * 2-D transposed convolution (the adjoint of conv2d). x [N, Cin, H, W], w [Cin, Cout/groups, kh, kw] -> [N, Cout, Ho, Wo]
   * with Ho = stride*(H-1) + outputPadding + dilation*(kh-1) + 1 - padTop - padBottom.
   */
  convTranspose2d(x: Tensor, w: Tensor, b?: Tensor, o: Conv2dOptions & { outputPadding?: Pair } = {}): Tensor {
    const op = 'convTranspose2d';
    this.rank(op, 'x', x, 4);
    this.rank(op, 'w', w, 4);
    this.sameFloat(op, x, w);
    const groups = o.groups ?? 1;
    const [cin, coutPerGroup, kh, kw] = w.shape;
    if (typeof kh !== 'number' || typeof kw !== 'number' || typeof coutPerGroup !== 'number')
      shapeError(op, `weight shape ${fmtShape(w.shape)} must be static`);
    if (dimsConflict(x.shape[1]!, cin!)) shapeError(op, `input ${fmtShape(x.shape)} does not match weight ${fmtShape(w.shape)}`);
    const s = pair(o.stride, 1);
    const d = pair(o.dilation, 1);
    const p = pads4(o.pad);
    const op2 = pair(o.outputPadding, 0);
    const out = (size: Dim, i: 0 | 1, k: number): Dim =>
      typeof size === 'number' ? s[i] * (size - 1) + op2[i] + d[i] * (k - 1) + 1 - p[i] - p[i + 2]! : this.freshDim();
    const attrs = {
      kernel_shape: ints([kh, kw]),
      strides: ints(s),
      pads: ints(p),
      dilations: ints(d),
      group: int(groups),
      output_padding: ints(op2),
    };
    const shape = [x.shape[0]!, coutPerGroup * groups, out(x.shape[2]!, 0, kh), out(x.shape[3]!, 1, kw)];
    return this.emit('ConvTranspose', b ? [x, w, b] : [x, w], attrs, [{ dtype: x.dtype, shape }])[0]!;
  }

  /** Max pooling over [N, C, H, W]; ceil mode as PyTorch's (a window may not start in the end padding). */
  maxPool(x: Tensor, o: Pool2dOptions): Tensor {
    return this.pool('MaxPool', 'maxPool', x, o, {});
  }

  /** Average pooling over [N, C, H, W]. `countIncludePad` (default false, ONNX's default) counts padding in the divisor. */
  averagePool(x: Tensor, o: Pool2dOptions & { countIncludePad?: boolean }): Tensor {
    return this.pool('AveragePool', 'averagePool', x, o, { count_include_pad: int(o.countIncludePad ? 1 : 0) });
  }

  /** Mean over H and W: [N, C, H, W] -> [N, C, 1, 1]. */
  globalAveragePool(x: Tensor): Tensor {
    this.rank('globalAveragePool', 'x', x, 4);
    this.float('globalAveragePool', x);
    return this.emit('GlobalAveragePool', [x], {}, [{ dtype: x.dtype, shape: [x.shape[0]!, x.shape[1]!, 1, 1] }])[0]!;
  }

  private pool(onnxOp: string, op: string, x: Tensor, o: Pool2dOptions, extra: Record<string, AttrValue>): Tensor {
    this.rank(op, 'x', x, 4);
    this.float(op, x);
    const k = pair(o.kernel, 1);
    const s = o.stride === undefined ? k : pair(o.stride, 1);
    const p = pads4(o.pad);
    if (p.some((v, i) => v * 2 > k[i % 2]!)) shapeError(op, `pads [${p}] must be at most half the kernel [${k}]`);
    const ceil = o.ceilMode ?? false;
    const ho = windowOut(op, x.shape[2]!, k[0], s[0], p[0], p[2], 1, ceil, this.freshDim);
    const wo = windowOut(op, x.shape[3]!, k[1], s[1], p[1], p[3], 1, ceil, this.freshDim);
    const attrs = { kernel_shape: ints(k), strides: ints(s), pads: ints(p), ceil_mode: int(ceil ? 1 : 0), ...extra };
    return this.emit(onnxOp, [x], attrs, [{ dtype: x.dtype, shape: [x.shape[0]!, x.shape[1]!, ho, wo] }])[0]!;
  }

  // ---------------------------------------------------------------- elementwise

  relu(x: Tensor): Tensor {
    return this.unary('Relu', 'relu', x);
  }
  /** min(max(x, 0), 6). */
  relu6(x: Tensor): Tensor {
    return this.clip(x, 0, 6);
  }
  sigmoid(x: Tensor): Tensor {
    return this.unary('Sigmoid', 'sigmoid', x);
  }
  tanh(x: Tensor): Tensor {
    return this.unary('Tanh', 'tanh', x);
  }
  exp(x: Tensor): Tensor {
    return this.unary('Exp', 'exp', x);
  }
  log(x: Tensor): Tensor {
    return this.unary('Log', 'log', x);
  }
  sqrt(x: Tensor): Tensor {
    return this.unary('Sqrt', 'sqrt', x);
  }
  abs(x: Tensor): Tensor {
    return this.unary('Abs', 'abs', x);
  }
  neg(x: Tensor): Tensor {
    return this.unary('Neg', 'neg', x);
  }
  reciprocal(x: Tensor): Tensor {
    return this.unary('Reciprocal', 'reciprocal', x);
  }
  /** -1, 0 or 1 by the sign of x (no gradient). */
  sign(x: Tensor): Tensor {
    return this.unary('Sign', 'sign', x);
  }

  /** Clamps x to [min, max]; either bound may be omitted. */
  clip(x: Tensor, min?: number, max?: number): Tensor {
    this.float('clip', x);
    const lo = min === undefined ? null : this.scalar(min, x.dtype);
    const hi = max === undefined ? null : this.scalar(max, x.dtype);
    return this.emit('Clip', [x, lo, hi], {}, [{ dtype: x.dtype, shape: x.shape }])[0]!;
  }

  add(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('Add', 'add', a, b);
  }
  sub(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('Sub', 'sub', a, b);
  }
  mul(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('Mul', 'mul', a, b);
  }
  div(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('Div', 'div', a, b);
  }
  pow(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('Pow', 'pow', a, b);
  }
  /** Elementwise maximum (gradient to the larger; ties to a). */
  maximum(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('Max', 'maximum', a, b);
  }
  /** Elementwise minimum (gradient to the smaller; ties to a). */
  minimum(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('Min', 'minimum', a, b);
  }

  // ---------------------------------------------------------------- comparisons and logic (no gradient)

  less(a: Tensor | number, b: Tensor | number): Tensor {
    return this.compare('Less', 'less', a, b);
  }
  greater(a: Tensor | number, b: Tensor | number): Tensor {
    return this.compare('Greater', 'greater', a, b);
  }
  lessOrEqual(a: Tensor | number, b: Tensor | number): Tensor {
    return this.compare('LessOrEqual', 'lessOrEqual', a, b);
  }
  greaterOrEqual(a: Tensor | number, b: Tensor | number): Tensor {
    return this.compare('GreaterOrEqual', 'greaterOrEqual', a, b);
  }
  equal(a: Tensor | number, b: Tensor | number): Tensor {
    return this.compare('Equal', 'equal', a, b);
  }
  and(a: Tensor, b: Tensor): Tensor {
    return this.logic('And', 'and', a, b);
  }
  or(a: Tensor, b: Tensor): Tensor {
    return this.logic('Or', 'or', a, b);
  }
  not(x: Tensor): Tensor {
    if (x.dtype !== 'bool') shapeError('not', `expects bool, got ${x.dtype}`);
    return this.emit('Not', [x], {}, [{ dtype: 'bool', shape: x.shape }])[0]!;
  }

  /** Converts to another dtype. Float-to-float casts pass gradients; casts to int/bool do not. */
  cast(x: Tensor, to: DType): Tensor {
    this.entry('cast', x);
    return this.emit('Cast', [x], { to: int(ONNX_TYPE[to]) }, [{ dtype: to, shape: x.shape }])[0]!;
  }

  /** Identity whose output carries no gradient (stops backpropagation). */
  detach(x: Tensor): Tensor {
    this.entry('detach', x);
    return this.emit('Identity', [x], {}, [{ dtype: x.dtype, shape: x.shape }], 'Detach')[0]!;
  }

  identity(x: Tensor): Tensor {
    this.entry('identity', x);
    return this.emit('Identity', [x], {}, [{ dtype: x.dtype, shape: x.shape }])[0]!;
  }

  // ---------------------------------------------------------------- linear algebra and reductions

  /** Numpy matmul: [..., M, K] x [..., K, P] -> [..., M, P] with broadcast batch dims (both ranks >= 2). */
  matmul(a: Tensor, b: Tensor): Tensor {
    const op = 'matmul';
    this.sameFloat(op, a, b);
    if (a.shape.length < 2 || b.shape.length < 2) shapeError(op, `expects rank >= 2, got ${fmtShape(a.shape)} x ${fmtShape(b.shape)}`);
    const k1 = a.shape[a.shape.length - 1]!;
    const k2 = b.shape[b.shape.length - 2]!;
    if (dimsConflict(k1, k2)) shapeError(op, `inner dims differ: ${fmtShape(a.shape)} x ${fmtShape(b.shape)}`);
    const batch = broadcastShapes(op, a.shape.slice(0, -2), b.shape.slice(0, -2));
    const shape = [...batch, a.shape[a.shape.length - 2]!, b.shape[b.shape.length - 1]!];
    return this.emit('MatMul', [a, b], {}, [{ dtype: a.dtype, shape }])[0]!;
  }

  /**
   * ONNX Gemm: alpha * A' B' (+ beta * C), where A' is `a` or its transpose ([M, K]) and B' is `b` or its transpose
   * ([K, P]); `c` broadcasts to [M, P]. One call into the BLAS, transposes included (no copies).
   */
  gemm(a: Tensor, b: Tensor, opts: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number; c?: Tensor } = {}): Tensor {
    const op = 'gemm';
    this.sameFloat(op, a, b);
    if (a.shape.length !== 2 || b.shape.length !== 2) shapeError(op, `expects two matrices, got ${fmtShape(a.shape)} x ${fmtShape(b.shape)}`);
    const [m, k1] = opts.transA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
    const [k2, p] = opts.transB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
    if (dimsConflict(k1, k2)) shapeError(op, `inner dims differ: ${fmtShape(a.shape)}${opts.transA ? '^T' : ''} x ${fmtShape(b.shape)}${opts.transB ? '^T' : ''}`);
    const inputs = [a, b];
    if (opts.c) {
      this.sameFloat(op, a, opts.c);
      const out = broadcastShapes(op, [m, p], opts.c.shape);
      if (out.length !== 2 || dimsConflict(out[0]!, m) || dimsConflict(out[1]!, p)) shapeError(op, `C must broadcast to [${m},${p}], got ${fmtShape(opts.c.shape)}`);
      inputs.push(opts.c);
    }
    const attrs: Record<string, AttrValue> = {};
    if (opts.transA) attrs.transA = int(1);
    if (opts.transB) attrs.transB = int(1);
    if (opts.alpha !== undefined) attrs.alpha = float(opts.alpha);
    if (opts.beta !== undefined) attrs.beta = float(opts.beta);
    return this.emit('Gemm', inputs, attrs, [{ dtype: a.dtype, shape: [m, p] }])[0]!;
  }

  reduceSum(x: Tensor, axes: number[], keepDims = false): Tensor {
    return this.reduce('ReduceSum', 'reduceSum', x, axes, keepDims);
  }
  reduceMean(x: Tensor, axes: number[], keepDims = false): Tensor {
    return this.reduce('ReduceMean', 'reduceMean', x, axes, keepDims);
  }
  reduceMax(x: Tensor, axes: number[], keepDims = false): Tensor {
    return this.reduce('ReduceMax', 'reduceMax', x, axes, keepDims);
  }

  /** Index of the maximum along `axis` (int64, no gradient). */
  argMax(x: Tensor, axis: number, keepDims = false): Tensor {
    const ax = normAxis('argMax', axis, x.shape.length);
    const shape = keepDims ? x.shape.map((d, i) => (i === ax ? 1 : d)) : x.shape.filter((_, i) => i !== ax);
    return this.emit('ArgMax', [x], { axis: int(ax), keepdims: int(keepDims ? 1 : 0) }, [{ dtype: 'int64', shape }])[0]!;
  }

  private reduce(onnxOp: string, op: string, x: Tensor, axes: number[], keepDims: boolean): Tensor {
    this.entry(op, x);
    if (axes.length === 0) shapeError(op, 'needs at least one axis');
    const ax = axes.map((a) => normAxis(op, a, x.shape.length));
    const shape = keepDims ? x.shape.map((d, i) => (ax.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !ax.includes(i));
    const axesT = this.constant(BigInt64Array.from(ax, BigInt), { dtype: 'int64' });
    return this.emit(onnxOp, [x, axesT], { keepdims: int(keepDims ? 1 : 0) }, [{ dtype: x.dtype, shape }])[0]!;
  }

  // ---------------------------------------------------------------- shape ops

  /** Concatenates along `axis`; all other dims must agree. */
  concat(xs: Tensor[], axis: number): Tensor {
    const op = 'concat';
    if (xs.length === 0) shapeError(op, 'needs at least one tensor');
    const first = xs[0]!;
    const ax = normAxis(op, axis, first.shape.length);
    for (const x of xs) {
      this.entry(op, x);
      if (x.dtype !== first.dtype) shapeError(op, `dtypes differ: ${first.dtype} and ${x.dtype}`);
      if (x.shape.length !== first.shape.length || x.shape.some((d, i) => i !== ax && dimsConflict(d, first.shape[i]!)))
        shapeError(op, `shapes ${xs.map((t) => fmtShape(t.shape)).join(', ')} differ outside axis ${ax}`);
    }
    const shape = first.shape.map((d, i) => (i === ax ? dimSum(xs.map((x) => x.shape[ax]!), this.freshDim) : d));
    return this.emit('Concat', xs, { axis: int(ax) }, [{ dtype: first.dtype, shape }])[0]!;
  }

  /**
   * Reshape. `shape` entries: a positive size, 0 (copy the input's dim at that position), -1 (infer, at most one)
   * or a symbol equal to the input's dim at the same position (e.g. 'N'). A Tensor gives the shape at run time
   * (int64 [rank]) with `outShape` as the declared result.
   */
  reshape(x: Tensor, shape: readonly Dim[] | Tensor, outShape?: readonly Dim[]): Tensor {
    const op = 'reshape';
    this.entry(op, x);
    if (!Array.isArray(shape)) {
      const st = shape as Tensor;
      this.entry(op, st);
      if (st.dtype !== 'int64' || st.shape.length !== 1) shapeError(op, `shape tensor must be int64 [rank], got ${st.dtype} ${fmtShape(st.shape)}`);
      const rank = st.shape[0];
      const declared = outShape ?? (typeof rank === 'number' ? Array.from({ length: rank }, () => this.freshDim()) : []);
      return this.emit('Reshape', [x, st], {}, [{ dtype: x.dtype, shape: declared }])[0]!;
    }
    const target = shape as readonly Dim[];
    const spec: number[] = [];
    const out: Dim[] = [];
    let inferAt = -1;
    target.forEach((d, i) => {
      if (d === 0 || (typeof d === 'string' && x.shape[i] === d)) {
        if (i >= x.shape.length) shapeError(op, `0 at position ${i} but input ${fmtShape(x.shape)} has rank ${x.shape.length}`);
        spec.push(0);
        out.push(x.shape[i]!);
      } else if (d === -1 || typeof d === 'string') {
        if (inferAt >= 0) shapeError(op, `target ${fmtShape(target)} has more than one dim to infer`);
        inferAt = i;
        spec.push(-1);
        out.push(-1);
      } else {
        if (!Number.isInteger(d) || d < 0) shapeError(op, `invalid target dim ${d} in ${fmtShape(target)}`);
        spec.push(d);
        out.push(d);
      }
    });
    // Cancel symbols and numbers between input and output to infer the -1 or check the element counts.
    const syms = new Map<string, number>();
    let pin = 1;
    for (const d of x.shape) typeof d === 'number' ? (pin *= d) : syms.set(d, (syms.get(d) ?? 0) + 1);
    let pout = 1;
    let unknownOut = false;
    out.forEach((d, i) => {
      if (i === inferAt) return;
      if (typeof d === 'number') pout *= d;
      else if ((syms.get(d) ?? 0) > 0) syms.set(d, syms.get(d)! - 1);
      else unknownOut = true;
    });
    const left = [...syms.entries()].filter(([, n]) => n > 0).map(([s]) => s);
    if (inferAt >= 0) {
      if (typeof target[inferAt] === 'string' && left.length === 1 && left[0] === target[inferAt] && pin === pout) out[inferAt] = left[0]!;
      else if (!unknownOut && left.length === 0) {
        if (pout === 0 || pin % pout !== 0) shapeError(op, `cannot reshape ${fmtShape(x.shape)} to ${fmtShape(target)}`);
        out[inferAt] = pin / pout;
      } else if (!unknownOut && left.length === 1 && pin === pout) out[inferAt] = left[0]!;
      else out[inferAt] = typeof target[inferAt] === 'string' ? (target[inferAt] as string) : this.freshDim();
    } else if (!unknownOut && left.length === 0 && pin !== pout) {
      shapeError(op, `cannot reshape ${fmtShape(x.shape)} (${pin} elements) to ${fmtShape(target)} (${pout} elements)`);
    }
    const st = this.constant(BigInt64Array.from(spec, BigInt), { dtype: 'int64' });
    return this.emit('Reshape', [x, st], {}, [{ dtype: x.dtype, shape: out }])[0]!;
  }

  /** Permutes dims: out.shape[i] = x.shape[perm[i]]. */
  transpose(x: Tensor, perm: number[]): Tensor {
    const op = 'transpose';
    this.entry(op, x);
    if (perm.length !== x.shape.length || [...perm].sort((a, b) => a - b).some((p, i) => p !== i))
      shapeError(op, `perm [${perm}] is not a permutation of the dims of ${fmtShape(x.shape)}`);
    return this.emit('Transpose', [x], { perm: ints(perm) }, [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]!) }])[0]!;
  }

  /** Flattens to 2-D: [prod(shape[:axis]), prod(shape[axis:])]. */
  flatten(x: Tensor, axis = 1): Tensor {
    const op = 'flatten';
    this.entry(op, x);
    if (axis < 0 || axis > x.shape.length) shapeError(op, `axis ${axis} out of range for ${fmtShape(x.shape)}`);
    const shape = [dimProduct(x.shape.slice(0, axis), this.freshDim), dimProduct(x.shape.slice(axis), this.freshDim)];
    return this.emit('Flatten', [x], { axis: int(axis) }, [{ dtype: x.dtype, shape }])[0]!;
  }

  /** Inserts size-1 dims at `axes` (positions in the output). */
  unsqueeze(x: Tensor, axes: number[]): Tensor {
    const op = 'unsqueeze';
    this.entry(op, x);
    const rank = x.shape.length + axes.length;
    const ax = axes.map((a) => normAxis(op, a, rank)).sort((a, b) => a - b);
    const shape: Dim[] = [];
    let j = 0;
    for (let i = 0; i < rank; i++) shape.push(ax.includes(i) ? 1 : x.shape[j++]!);
    const axesT = this.constant(BigInt64Array.from(ax, BigInt), { dtype: 'int64' });
    return this.emit('Unsqueeze', [x, axesT], {}, [{ dtype: x.dtype, shape }])[0]!;
  }

  /** Removes size-1 dims at `axes`. */
  squeeze(x: Tensor, axes: number[]): Tensor {
    const op = 'squeeze';
    this.entry(op, x);
    const ax = axes.map((a) => normAxis(op, a, x.shape.length));
    for (const a of ax) if (dimsConflict(x.shape[a]!, 1)) shapeError(op, `dim ${a} of ${fmtShape(x.shape)} is not 1`);
    const axesT = this.constant(BigInt64Array.from(ax, BigInt), { dtype: 'int64' });
    return this.emit('Squeeze', [x, axesT], {}, [{ dtype: x.dtype, shape: x.shape.filter((_, i) => !ax.includes(i)) }])[0]!;
  }

  /** Static slice: for each axis, [start, end) with step (negative indices count from the end; ends clamp). */
  slice(x: Tensor, starts: number[], ends: number[], axes?: number[], steps?: number[]): Tensor {
    const op = 'slice';
    this.entry(op, x);
    const ax = (axes ?? starts.map((_, i) => i)).map((a) => normAxis(op, a, x.shape.length));
    const st = steps ?? starts.map(() => 1);
    if (ends.length !== starts.length || ax.length !== starts.length || st.length !== starts.length)
      shapeError(op, 'starts, ends, axes and steps must have the same length');
    const shape = [...x.shape];
    ax.forEach((a, i) => {
      const size = x.shape[a]!;
      if (typeof size !== 'number') {
        shape[a] = this.freshDim();
        return;
      }
      const step = st[i]!;
      if (step === 0) shapeError(op, 'step 0');
      const clampIdx = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + size : v, lo), hi);
      const s = step > 0 ? clampIdx(starts[i]!, 0, size) : clampIdx(starts[i]!, -1, size - 1);
      const e = step > 0 ? clampIdx(ends[i]!, 0, size) : clampIdx(ends[i]!, -1, size - 1);
      shape[a] = Math.max(0, Math.ceil((e - s) / step));
    });
    const c = (v: number[]) => this.constant(BigInt64Array.from(v, (n) => BigInt(Math.max(Math.min(n, 2 ** 62), -(2 ** 62)))), { dtype: 'int64' });
    return this.emit('Slice', [x, c(starts), c(ends), c(ax), c(st)], {}, [{ dtype: x.dtype, shape }])[0]!;
  }

  /** Splits along `axis` into pieces of the given sizes. */
  split(x: Tensor, sizes: number[], axis: number): Tensor[] {
    const op = 'split';
    this.entry(op, x);
    const ax = normAxis(op, axis, x.shape.length);
    const total = sizes.reduce((a, b) => a + b, 0);
    if (dimsConflict(x.shape[ax]!, total)) shapeError(op, `sizes [${sizes}] sum to ${total} but dim ${ax} of ${fmtShape(x.shape)} is ${x.shape[ax]}`);
    const splitT = this.constant(BigInt64Array.from(sizes, BigInt), { dtype: 'int64' });
    const outs = sizes.map((s) => ({ dtype: x.dtype, shape: x.shape.map((d, i) => (i === ax ? s : d)) }));
    return this.emit('Split', [x, splitT], { axis: int(ax) }, outs);
  }

  /** Shape of x at run time (int64 [rank]); no gradient. */
  shapeOf(x: Tensor): Tensor {
    this.entry('shapeOf', x);
    return this.emit('Shape', [x], {}, [{ dtype: 'int64', shape: [x.shape.length] }])[0]!;
  }

  /** Number of elements of x at run time (int64 scalar); no gradient. */
  sizeOf(x: Tensor): Tensor {
    this.entry('sizeOf', x);
    return this.emit('Size', [x], {}, [{ dtype: 'int64', shape: [] }])[0]!;
  }

  /** Broadcasts x to a shape given at run time (int64 [rank]); `outShape` is the declared result. */
  expand(x: Tensor, shape: Tensor, outShape: readonly Dim[]): Tensor {
    this.entry('expand', x);
    this.entry('expand', shape);
    return this.emit('Expand', [x, shape], {}, [{ dtype: x.dtype, shape: broadcastShapes('expand', x.shape, outShape) }])[0]!;
  }

  /** Zeros with the shape and dtype of `like`. */
  zerosLike(like: Tensor): Tensor {
    return this.zeros(this.shapeOf(like), like.shape, like.dtype);
  }

  /** Zeros of a shape given at run time (int64 [rank]); `outShape` is the declared result. */
  zeros(shape: Tensor, outShape: readonly Dim[], dtype: DType = 'float32'): Tensor {
    this.entry('zeros', shape);
    // ConstantOfShape's default value is a float32 zero: a fill, cheaper than broadcasting a scalar.
    if (dtype === 'float32') return this.emit('ConstantOfShape', [shape], {}, [{ dtype, shape: outShape }])[0]!;
    return this.expand(this.scalar(0, dtype), shape, outShape);
  }

  // ---------------------------------------------------------------- softmax

  softmax(x: Tensor, axis: number): Tensor {
    this.float('softmax', x);
    const ax = normAxis('softmax', axis, x.shape.length);
    return this.emit('Softmax', [x], { axis: int(ax) }, [{ dtype: x.dtype, shape: x.shape }])[0]!;
  }

  logSoftmax(x: Tensor, axis: number): Tensor {
    this.float('logSoftmax', x);
    const ax = normAxis('logSoftmax', axis, x.shape.length);
    return this.emit('LogSoftmax', [x], { axis: int(ax) }, [{ dtype: x.dtype, shape: x.shape }])[0]!;
  }

  // ---------------------------------------------------------------- indexing

  /** numpy take: out = x.shape[:axis] + indices.shape + x.shape[axis+1:]. Indices int32/int64, in [0, dim). */
  gather(x: Tensor, indices: Tensor, axis: number): Tensor {
    const op = 'gather';
    this.entry(op, x);
    this.indices(op, indices);
    const ax = normAxis(op, axis, x.shape.length);
    const shape = [...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)];
    return this.emit('Gather', [x, indices], { axis: int(ax) }, [{ dtype: x.dtype, shape }])[0]!;
  }

  /** out[i][j][k] = x[idx[i][j][k]][j][k] (axis 0); indices have x's rank, output has their shape. */
  gatherElements(x: Tensor, indices: Tensor, axis: number): Tensor {
    const op = 'gatherElements';
    this.entry(op, x);
    this.indices(op, indices);
    const ax = normAxis(op, axis, x.shape.length);
    if (indices.shape.length !== x.shape.length) shapeError(op, `indices ${fmtShape(indices.shape)} must have the rank of x ${fmtShape(x.shape)}`);
    return this.emit('GatherElements', [x, indices], { axis: int(ax) }, [{ dtype: x.dtype, shape: indices.shape }])[0]!;
  }

  /** Copy of data with data[idx[i][j]][j] (axis 0) set to, or with `reduction` combined with, updates[i][j]. */
  scatterElements(data: Tensor, indices: Tensor, updates: Tensor, axis: number, reduction: 'none' | 'add' | 'mul' | 'max' | 'min' = 'none'): Tensor {
    const op = 'scatterElements';
    this.entry(op, data);
    this.indices(op, indices);
    this.entry(op, updates);
    const ax = normAxis(op, axis, data.shape.length);
    if (indices.shape.length !== data.shape.length || indices.shape.some((d, i) => dimsConflict(d, updates.shape[i]!)) || updates.shape.length !== indices.shape.length)
      shapeError(op, `data ${fmtShape(data.shape)}, indices ${fmtShape(indices.shape)} and updates ${fmtShape(updates.shape)} must have one rank, indices the shape of updates`);
    if (updates.dtype !== data.dtype) shapeError(op, `updates ${updates.dtype} do not match data ${data.dtype}`);
    return this.emit('ScatterElements', [data, indices, updates], { axis: int(ax), reduction: str(reduction) }, [{ dtype: data.dtype, shape: data.shape }])[0]!;
  }

  /** ONNX ScatterND: indices [..., k] address the first k dims of data; updates = indices.shape[:-1] + data.shape[k:]. */
  scatterND(data: Tensor, indices: Tensor, updates: Tensor, reduction: 'none' | 'add' | 'mul' = 'none'): Tensor {
    const op = 'scatterND';
    this.entry(op, data);
    this.entry(op, updates);
    if (indices.dtype !== 'int64') shapeError(op, `indices must be int64, got ${indices.dtype}`);
    return this.emit('ScatterND', [data, indices, updates], { reduction: str(reduction) }, [{ dtype: data.dtype, shape: data.shape }])[0]!;
  }

  /** cond ? a : b, with broadcasting; cond is bool. */
  where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
    const op = 'where';
    this.entry(op, cond);
    if (cond.dtype !== 'bool') shapeError(op, `condition must be bool, got ${cond.dtype}`);
    const dtype = typeof a !== 'number' ? a.dtype : typeof b !== 'number' ? b.dtype : 'float32';
    const ta = typeof a === 'number' ? this.scalar(a, dtype) : a;
    const tb = typeof b === 'number' ? this.scalar(b, dtype) : b;
    this.entry(op, ta);
    this.entry(op, tb);
    if (ta.dtype !== tb.dtype) shapeError(op, `branch dtypes differ: ${ta.dtype} and ${tb.dtype}`);
    const shape = broadcastShapes(op, broadcastShapes(op, cond.shape, ta.shape), tb.shape);
    return this.emit('Where', [cond, ta, tb], {}, [{ dtype, shape }])[0]!;
  }

  /** The k largest (or smallest) along `axis`: values and int64 indices (indices carry no gradient). */
  topK(x: Tensor, k: Tensor | number, axis: number, largest = true): { values: Tensor; indices: Tensor } {
    const op = 'topK';
    this.entry(op, x);
    const ax = normAxis(op, axis, x.shape.length);
    const kt = typeof k === 'number' ? this.constant(BigInt64Array.from([BigInt(k)]), { dtype: 'int64' }) : k;
    this.entry(op, kt);
    if (typeof k === 'number' && typeof x.shape[ax] === 'number' && k > (x.shape[ax] as number))
      shapeError(op, `k ${k} exceeds dim ${ax} of ${fmtShape(x.shape)}`);
    const shape = x.shape.map((d, i) => (i === ax ? (typeof k === 'number' ? k : this.freshDim()) : d));
    const [values, indices] = this.emit('TopK', [x, kt], { axis: int(ax), largest: int(largest ? 1 : 0), sorted: int(1) }, [
      { dtype: x.dtype, shape },
      { dtype: 'int64', shape },
    ]);
    return { values: values!, indices: indices! };
  }

  // ---------------------------------------------------------------- normalisation

  /**
   * Batch normalisation over [N, C, ...] with per-channel scale, bias, mean, variance [C]. Training mode uses
   * the batch's statistics (built from primitive ops, so its gradient follows from theirs) and also returns
   * the updated running statistics; inference mode is one ONNX BatchNormalization node.
   */
  batchNorm(
    x: Tensor,
    scale: Tensor,
    bias: Tensor,
    mean: Tensor,
    variance: Tensor,
    o: BatchNormOptions,
  ): { y: Tensor; runningMean?: Tensor; runningVar?: Tensor } {
    const op = 'batchNorm';
    this.float(op, x);
    if (x.shape.length < 2) shapeError(op, `input ${fmtShape(x.shape)} must be [N, C, ...]`);
    const c = x.shape[1]!;
    for (const [n, t] of [['scale', scale], ['bias', bias], ['mean', mean], ['variance', variance]] as const) {
      this.entry(op, t);
      if (t.shape.length !== 1 || dimsConflict(t.shape[0]!, c)) shapeError(op, `${n} ${fmtShape(t.shape)} must be [${c}] for input ${fmtShape(x.shape)}`);
    }
    const eps = o.epsilon ?? 1e-5;
    if (!o.training) {
      const y = this.emit('BatchNormalization', [x, scale, bias, mean, variance], { epsilon: float(eps) }, [{ dtype: x.dtype, shape: x.shape }])[0]!;
      return { y };
    }
    const momentum = o.momentum ?? 0.1;
    const axes = [0, ...x.shape.slice(2).map((_, i) => i + 2)];
    const bshape: Dim[] = [1, c, ...x.shape.slice(2).map(() => 1)];
    const perChannel = (t: Tensor) => this.reshape(t, bshape);
    const mu = this.reduceMean(x, axes, true);
    const centred = this.sub(x, mu);
    const varB = this.reduceMean(this.mul(centred, centred), axes, true);
    const y = this.add(this.mul(this.div(centred, this.sqrt(this.add(varB, eps))), perChannel(scale)), perChannel(bias));
    // Running statistics (PyTorch: unbiased batch variance); they carry no gradient.
    const count = this.div(this.cast(this.sizeOf(x), x.dtype), this.scalar(typeof c === 'number' ? c : 1, x.dtype));
    const unbiased = this.mul(this.reshape(this.detach(varB), [c]), this.div(count, this.sub(count, 1)));
    const runningMean = this.add(this.mul(mean, 1 - momentum), this.mul(this.reshape(this.detach(mu), [c]), momentum));
    const runningVar = this.add(this.mul(variance, 1 - momentum), this.mul(unbiased, momentum));
    return { y, runningMean, runningVar };
  }

  // ---------------------------------------------------------------- serialisation

  /** Standard ONNX (opset 18). Parameters become initializers with their init values unless options say otherwise. */
  toModelProto(opts: SerializeOptions = {}): onnx.ModelProto {
    return toModelProto(this, opts);
  }

  /** The serialised ONNX model. */
  toBytes(opts: SerializeOptions = {}): Uint8Array {
    return toBytes(this, opts);
  }

  // ---------------------------------------------------------------- escape hatch and internals

  /**
   * Appends an arbitrary ONNX node with the declared outputs (no checks: the caller vouches for shapes).
   * Gradient rules and rarely used ops go through this; it has no gradient unless the table has `op`.
   */
  custom(op: string, inputs: (Tensor | null)[], attrs: Record<string, AttrValue>, outputs: { dtype: DType; shape: readonly Dim[]; name?: string }[]): Tensor[] {
    for (const t of inputs) if (t) this.entry(op, t);
    return this.emit(op, inputs, attrs, outputs);
  }

  /** A scalar constant of the given dtype. */
  scalar(v: number, dtype: DType = 'float32'): Tensor {
    return this.constant(v, { dtype });
  }

  /** Adds output number `index` to an existing node (e.g. MaxPool's Indices, wanted by its gradient). */
  requireNodeOutput(nodeIndex: number, index: number, dtype: DType, shape: readonly Dim[]): Tensor {
    const node = this.nodeList[nodeIndex]!;
    const existing = node.outputs[index];
    if (existing) return this.entries.get(existing)!.tensor;
    const outputs = [...node.outputs];
    while (outputs.length < index) outputs.push('');
    const name = `${node.name}_out${index}`;
    outputs[index] = name;
    this.nodeList[nodeIndex] = { ...node, outputs };
    const t = this.register(name, dtype, shape, 'node');
    const e = this.entries.get(name)!;
    e.producer = nodeIndex;
    e.outputIndex = index;
    return t;
  }

  /** Resolves a tensor of this graph; throws naming the op when the graph has no tensor by that name. */
  entry(op: string, t: Tensor): TensorEntry {
    const e = t && this.entries.get(t.name);
    if (!e) throw new Error(`${op}: tensor '${t?.name}' is not in graph '${this.name}' (a missing tensor, or one from another graph)`);
    return e;
  }

  readonly freshDim = (): string => `?${this.counter++}`;

  private fresh(base: string): string {
    let name: string;
    do name = `${this.prefix ? this.prefix + '/' : ''}${base}_${this.counter++}`;
    while (this.entries.has(name));
    return name;
  }

  private register(name: string, dtype: DType, shape: readonly Dim[], kind: TensorKind): Tensor {
    if (this.entries.has(name)) throw new Error(`${kind}: the graph already has a tensor named '${name}'`);
    if (!name) throw new Error(`${kind}: empty tensor name`);
    const t: Tensor = Object.freeze({ name, dtype, shape: Object.freeze([...shape]) });
    this.entries.set(name, { tensor: t, kind, producer: -1, outputIndex: 0 });
    return t;
  }

  private emit(
    op: string,
    inputs: (Tensor | null)[],
    attrs: Record<string, AttrValue>,
    outputs: { dtype: DType; shape: readonly Dim[]; name?: string }[],
    gradKey?: string,
    outputName?: string,
  ): Tensor[] {
    for (const t of inputs) if (t) this.entry(op, t);
    const name = this.fresh(op);
    const outTensors = outputs.map((o, i) => this.register(o.name ?? (i === 0 && outputName ? outputName : `${name}_out${i}`), o.dtype, o.shape, 'node'));
    const index = this.nodeList.length;
    outTensors.forEach((t, i) => {
      const e = this.entries.get(t.name)!;
      e.producer = index;
      e.outputIndex = i;
    });
    const node: GraphNode = {
      name,
      op,
      inputs: inputs.map((t) => (t ? t.name : '')),
      outputs: outTensors.map((t) => t.name),
      attrs,
      ...(gradKey ? { gradKey } : {}),
    };
    this.nodeList.push(node);
    return outTensors;
  }

  private unary(onnxOp: string, op: string, x: Tensor): Tensor {
    this.entry(op, x);
    if (onnxOp !== 'Abs' && onnxOp !== 'Neg' && onnxOp !== 'Sign' && onnxOp !== 'Relu') this.float(op, x);
    return this.emit(onnxOp, [x], {}, [{ dtype: x.dtype, shape: x.shape }])[0]!;
  }

  private operands(op: string, a: Tensor | number, b: Tensor | number): [Tensor, Tensor] {
    if (typeof a === 'number' && typeof b === 'number') shapeError(op, 'needs at least one tensor operand');
    const dtype = typeof a !== 'number' ? a.dtype : (b as Tensor).dtype;
    const ta = typeof a === 'number' ? this.scalar(a, dtype) : a;
    const tb = typeof b === 'number' ? this.scalar(b, dtype) : b;
    this.entry(op, ta);
    this.entry(op, tb);
    if (ta.dtype !== tb.dtype) shapeError(op, `dtypes differ: ${ta.dtype} ${fmtShape(ta.shape)} and ${tb.dtype} ${fmtShape(tb.shape)}`);
    return [ta, tb];
  }

  private binary(onnxOp: string, op: string, a: Tensor | number, b: Tensor | number): Tensor {
    const [ta, tb] = this.operands(op, a, b);
    if (ta.dtype === 'bool') shapeError(op, 'bool operands');
    const shape = broadcastShapes(op, ta.shape, tb.shape);
    return this.emit(onnxOp, [ta, tb], {}, [{ dtype: ta.dtype, shape }])[0]!;
  }

  private compare(onnxOp: string, op: string, a: Tensor | number, b: Tensor | number): Tensor {
    const [ta, tb] = this.operands(op, a, b);
    return this.emit(onnxOp, [ta, tb], {}, [{ dtype: 'bool', shape: broadcastShapes(op, ta.shape, tb.shape) }])[0]!;
  }

  private logic(onnxOp: string, op: string, a: Tensor, b: Tensor): Tensor {
    this.entry(op, a);
    this.entry(op, b);
    if (a.dtype !== 'bool' || b.dtype !== 'bool') shapeError(op, `expects bool operands, got ${a.dtype} and ${b.dtype}`);
    return this.emit(onnxOp, [a, b], {}, [{ dtype: 'bool', shape: broadcastShapes(op, a.shape, b.shape) }])[0]!;
  }

  private rank(op: string, what: string, t: Tensor, rank: number): void {
    this.entry(op, t);
    if (t.shape.length !== rank) shapeError(op, `${what} ${fmtShape(t.shape)} must have rank ${rank}`);
  }

  private float(op: string, t: Tensor): void {
    this.entry(op, t);
    if (!isFloat(t.dtype)) shapeError(op, `expects a float tensor, got ${t.dtype} ${fmtShape(t.shape)} ('${t.name}')`);
  }

  private sameFloat(op: string, a: Tensor, b: Tensor): void {
    this.float(op, a);
    this.float(op, b);
    if (a.dtype !== b.dtype) shapeError(op, `dtypes differ: ${a.dtype} ${fmtShape(a.shape)} and ${b.dtype} ${fmtShape(b.shape)}`);
  }

  private indices(op: string, t: Tensor): void {
    this.entry(op, t);
    if (t.dtype !== 'int64' && t.dtype !== 'int32') shapeError(op, `indices must be int32 or int64, got ${t.dtype} ${fmtShape(t.shape)}`);
  }
}


function convert(values: ArrayLike<number | bigint>, dtype: DType): TypedArray {
  const n = values.length;
  switch (dtype) {
    case 'int64': {
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) out[i] = BigInt(values[i]!);
      return out;
    }
    case 'float32':
      return Float32Array.from(values as ArrayLike<number>, Number);
    case 'float64':
      return Float64Array.from(values as ArrayLike<number>, Number);
    case 'int32':
      return Int32Array.from(values as ArrayLike<number>, Number);
    case 'bool':
      return Uint8Array.from(values as ArrayLike<number>, (v) => (Number(v) ? 1 : 0));
  }
}
