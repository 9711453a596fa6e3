// Runs graphs on ONNX Runtime (onnxruntime-node): forward inference with the parameters baked in, and training
// steps (see TrainingSession in trainer.ts).
import * as ort from 'onnxruntime-node';
import type { Graph } from './builder.js';
import type { DType, TensorData } from './types.js';

/** Session settings. */
export interface RuntimeOptions {
  /** Intra-op threads (default: ORT's default, all cores). */
  threads?: number;
  /** ORT graph optimisation level (default 'all' for inference, 'basic' for training graphs: see trainer.ts). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
}

/** ORT session options from ours. */
export function sessionOptions(opts: RuntimeOptions, dflt: NonNullable<RuntimeOptions['optimization']>): ort.InferenceSession.SessionOptions {
  const o: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: opts.optimization ?? dflt,
    executionMode: 'sequential',
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

/** Checks feeds against the graph's inputs: every input present, dtype and static dims matching. */
export function checkFeeds(g: Graph, feeds: Record<string, TensorData>, extra: readonly string[] = []): void {
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
    const session = await ort.InferenceSession.create(bytes, sessionOptions(opts, 'all'));
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
