// Runs graphs on ONNX Runtime (onnxruntime-node): forward inference with the parameters baked in, and training
// steps with parameters and momentum kept between steps.
import * as ort from 'onnxruntime-node';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Graph } from './builder.js';
import { buildTrainingGraph, momentumName, nextName, type SgdOptions } from './sgd.js';
import type { DType, Tensor, TensorData } from './types.js';

/** Session settings. */
export interface RuntimeOptions {
  /** Intra-op threads (default: ORT's default, all cores). */
  threads?: number;
  /** ORT graph optimisation level (default 'all' for inference, 'basic' for training graphs: session creation
   *  stays fast on large graphs and the basic fusions are the ones that matter there). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** ORT's CPU memory arena (default on). It keeps freed buffers for the next allocation: without it every
   *  large buffer comes fresh from the system each step, page faults and all (an SSD300 step at batch 8, 2
   *  threads: 13.2 s with it against 16.0-17.5 s without, 1.3 million page faults a step; peak 2.47 GB against
   *  2.30 GB). */
  memArena?: boolean;
  /** ORT's memory pattern: after the first run, one block laid out for all intermediate tensors. Default: on for
   *  inference, off for training steps, where that block far outgrows the peak of the tensors alive at once
   *  (SSD300 at batch 8, with the arena: 4.29 GB against 2.47 GB, 13.6 s against 13.2 s a step). */
  memPattern?: boolean;
}

/** ORT session options from ours, with the defaults of an inference or a training session. */
export function sessionOptions(opts: RuntimeOptions, kind: 'inference' | 'training'): ort.InferenceSession.SessionOptions {
  const o: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: opts.optimization ?? (kind === 'inference' ? 'all' : 'basic'),
    executionMode: 'sequential',
    enableCpuMemArena: opts.memArena ?? true,
    enableMemPattern: opts.memPattern ?? kind === 'inference',
  };
  if (opts.threads !== undefined) {
    o.intraOpNumThreads = opts.threads;
    o.interOpNumThreads = 1;
  }
  return o;
}

/** Our tensor data as an ORT tensor (shares the buffer, no copy). */
export function toOrt(t: TensorData): ort.Tensor {
  return new ort.Tensor(t.dtype, t.data as never, t.dims);
}

/** An ORT tensor as our tensor data (shares the buffer, no copy). */
export function fromOrt(t: ort.Tensor): TensorData {
  const dtype = t.type as DType;
  if (!['float32', 'float64', 'int32', 'int64', 'bool'].includes(dtype)) throw new Error(`unsupported output type ${t.type}`);
  return { data: t.data as TensorData['data'], dims: [...t.dims], dtype };
}

/** What checkFeeds needs of a graph (a Graph has both). */
export interface GraphSignature {
  readonly name: string;
  readonly inputs: readonly Tensor[];
}

/** Checks feeds against the graph's inputs: every input present, dtype and static dims matching. */
export function checkFeeds(g: GraphSignature, feeds: Record<string, TensorData>, extra: readonly string[] = []): void {
  for (const inp of g.inputs) {
    const f = feeds[inp.name];
    if (!f) throw new Error(`run: missing feed for input '${inp.name}' (${inp.dtype} [${inp.shape}])`);
    if (f.dtype !== inp.dtype) throw new Error(`run: input '${inp.name}' must be ${inp.dtype}, got ${f.dtype}`);
    if (f.dims.length !== inp.shape.length || inp.shape.some((d, i) => typeof d === 'number' && d !== f.dims[i]))
      throw new Error(`run: input '${inp.name}' must have shape [${inp.shape}], got [${f.dims}]`);
    let n = 1;
    for (const d of f.dims) n *= d;
    if (f.data.length !== n) throw new Error(`run: input '${inp.name}' has dims [${f.dims}] (${n} values) but ${f.data.length} values`);
  }
  const known = new Set([...g.inputs.map((t) => t.name), ...extra]);
  for (const k of Object.keys(feeds)) if (!known.has(k)) throw new Error(`run: '${k}' is not an input of graph '${g.name}'`);
}

/** Forward inference: the parameters are baked into the model as initializers; feeds and results by name. */
export class InferenceRunner {
  private constructor(
    readonly graph: Graph,
    readonly session: ort.InferenceSession,
  ) {}

  /** Builds the ONNX model of `g` with parameter values `params` (missing ones use their `init`) and opens a session. */
  static async create(g: Graph, params: ReadonlyMap<string, Float32Array> = new Map(), opts: RuntimeOptions = {}): Promise<InferenceRunner> {
    for (const k of params.keys())
      if (!g.parameters.some((p) => p.name === k)) throw new Error(`InferenceRunner.create: '${k}' is not a parameter of graph '${g.name}'`);
    const bytes = g.toBytes({ values: params });
    const session = await ort.InferenceSession.create(bytes, sessionOptions(opts, 'inference'));
    return new InferenceRunner(g, session);
  }

  /** Runs the graph; returns every declared output by name. */
  async run(feeds: Record<string, TensorData>): Promise<Record<string, TensorData>> {
    checkFeeds(this.graph, feeds);
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = toOrt(v);
    const out = await this.session.run(ortFeeds);
    const result: Record<string, TensorData> = {};
    for (const [k, v] of Object.entries(out)) result[k] = fromOrt(v as ort.Tensor);
    return result;
  }

  /** Releases the native session. */
  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Options of TrainingSession.create. */
export type TrainingOptions = Omit<SgdOptions, 'parameterStep'> & RuntimeOptions;

/**
 * A training step session: one ORT run computes the loss, the gradients and the new momentum buffers; the
 * parameters then step in place here (p -= lr * multiplier * buf, one pass over them). Each parameter and
 * momentum buffer exists once: both are fed without copying, and ORT writes the new momentum straight over the
 * old (a pre-allocated output on the input's buffer, safe because the old value's one reader, its product with
 * the momentum factor, is an input of the node that writes it). Against a self-contained graph with its own
 * parameter outputs this saves a second set of parameters and of momentum buffers (SSD300: 200 MB).
 */
export class TrainingSession {
  /** The forward graph's name and inputs; the session keeps no reference to the graphs themselves, so the
   *  parameters' initial values can be collected once the caller drops them. */
  readonly signature: GraphSignature;
  /** Parameter names in the graph's order; multipliers[k] is the learning-rate multiplier of names[k]. */
  private readonly names: string[];
  private readonly params = new Map<string, Float32Array>();
  private readonly momentum = new Map<string, Float32Array>();
  private readonly feeds: Record<string, ort.Tensor> = {};
  private readonly fetches: Record<string, ort.Tensor | null> = {};
  private readonly multipliers: number[];
  private readonly scalarOutputs: string[];
  /** Bytes of the momentum outputs that the binding copies back each step (see collectGarbage). */
  private readonly outputBytes: number;

  private constructor(
    graph: Graph,
    trainingGraph: Graph,
    readonly session: ort.InferenceSession,
    opts: TrainingOptions,
  ) {
    this.signature = { name: graph.name, inputs: graph.inputs };
    this.names = graph.parameters.map((p) => p.name);
    let bytes = 0;
    for (const p of graph.parameters) {
      const dims = [...(p.shape as number[])];
      const value = Float32Array.from(p.init);
      const buf = new Float32Array(p.init.length);
      this.params.set(p.name, value);
      this.momentum.set(p.name, buf);
      this.feeds[p.name] = new ort.Tensor('float32', value, dims);
      const bufTensor = new ort.Tensor('float32', buf, dims);
      this.feeds[momentumName(p.name)] = bufTensor;
      this.fetches[nextName(momentumName(p.name))] = bufTensor;
      bytes += buf.byteLength;
    }
    this.outputBytes = bytes;
    this.multipliers = graph.parameters.map((p) => opts.lrMultipliers?.[p.group] ?? 1);
    const state = new Set(Object.keys(this.fetches));
    this.scalarOutputs = trainingGraph.outputs.filter((o) => !state.has(o.name) && o.tensor.shape.every((d) => d === 1)).map((o) => o.name);
    for (const name of this.scalarOutputs) this.fetches[name] = null;
  }

  /** Builds the training graph of `g` (see buildTrainingGraph, parameterStep 'caller') and opens its session;
   *  parameters start at their `init` values, momentum at zero. */
  static async create(g: Graph, loss: Tensor, opts: TrainingOptions): Promise<TrainingSession> {
    const tg = buildTrainingGraph(g, loss, { ...opts, parameterStep: 'caller' });
    const bytes = tg.toBytes({ parameters: 'inputs' });
    const session = await ort.InferenceSession.create(bytes, sessionOptions(opts, 'training'));
    const result = new TrainingSession(g, tg, session, opts);
    // The session holds its own copy of the parameters: a caller that dropped the initial values and the graph
    // gets that memory back before the first step rather than at V8's leisure.
    if (result.outputBytes >= GC_THRESHOLD_BYTES) collectGarbage();
    return result;
  }

  /** One step at base learning rate `lr`: returns the forward graph's scalar outputs (the loss terms, computed
   *  before the update) as numbers, and 'grad_norm' (before clipping) when clipping is on. */
  async step(feeds: Record<string, TensorData>, lr: number): Promise<Record<string, number>> {
    checkFeeds(this.signature, feeds);
    const result = await this.run(feeds);
    // The binding returns a copy of every fetched output, the momentum buffers too: garbage the size of the
    // model that V8 would otherwise collect only after the next step's peak (SSD300: 100 MB on it).
    if (this.outputBytes >= GC_THRESHOLD_BYTES) collectGarbage();
    for (let k = 0; k < this.names.length; k++) {
      const p = this.params.get(this.names[k]!)!;
      const buf = this.momentum.get(this.names[k]!)!;
      const rate = lr * this.multipliers[k]!;
      for (let i = 0; i < p.length; i++) p[i]! -= rate * buf[i]!;
    }
    return result;
  }

  /** Copies of the current parameters by name. */
  getParameters(): Map<string, Float32Array> {
    return new Map([...this.params].map(([k, v]) => [k, v.slice()]));
  }

  /** Replaces parameter values (by name; each must have the parameter's size). Unnamed ones are kept. */
  setParameters(m: ReadonlyMap<string, Float32Array>): void {
    copyInto('setParameters', this.params, m);
  }

  /** Copies of the momentum buffers by parameter name. */
  getOptimizerState(): Map<string, Float32Array> {
    return new Map([...this.momentum].map(([k, v]) => [k, v.slice()]));
  }

  /** Replaces momentum buffers (by parameter name). */
  setOptimizerState(m: ReadonlyMap<string, Float32Array>): void {
    copyInto('setOptimizerState', this.momentum, m);
  }

  async release(): Promise<void> {
    await this.session.release();
  }

  /** Runs the session and reads the scalar outputs; the copies the binding made are unreachable on return. */
  private async run(feeds: Record<string, TensorData>): Promise<Record<string, number>> {
    const ortFeeds: Record<string, ort.Tensor> = { ...this.feeds };
    for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = toOrt(v);
    const out = await this.session.run(ortFeeds, this.fetches);
    const result: Record<string, number> = {};
    for (const name of this.scalarOutputs) result[name] = Number((out[name] as ort.Tensor).data[0]);
    return result;
  }
}

/** Below this many bytes of copied outputs per step, V8's own collection keeps up. */
const GC_THRESHOLD_BYTES = 32 * 2 ** 20;

let gcFunction: (() => void) | null | undefined;

/**
 * A full V8 garbage collection, now. Node exposes `gc` only under --expose-gc; the flag can be set at run time and
 * takes effect in contexts created afterwards (the way jest-leak-detector reaches it). Where neither works (a
 * runtime that forbids it), this does nothing and V8 collects in its own time.
 */
export function collectGarbage(): void {
  if (gcFunction === undefined) {
    const global = (globalThis as { gc?: () => void }).gc;
    try {
      if (global) gcFunction = global;
      else {
        v8.setFlagsFromString('--expose-gc');
        gcFunction = vm.runInNewContext('gc') as () => void;
      }
    } catch {
      gcFunction = null;
    }
  }
  gcFunction?.();
}

function copyInto(op: string, target: Map<string, Float32Array>, source: ReadonlyMap<string, Float32Array>): void {
  for (const [k, v] of source) {
    const t = target.get(k);
    if (!t) throw new Error(`${op}: '${k}' is not a parameter of the graph`);
    if (t.length !== v.length) throw new Error(`${op}: '${k}' has ${v.length} values, expected ${t.length}`);
    t.set(v);
  }
}
