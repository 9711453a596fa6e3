// Runs graphs on ONNX Runtime (onnxruntime-node): session options, tensors in and out, forward inference with the
// parameters baked in. Training steps run in training-session.ts.
import * as ort from 'onnxruntime-node';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Graph } from './builder.js';
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
    readonly graph: GraphSignature,
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

  /**
   * Opens a session on a finished ONNX model (a file ssd-ts did not build, or one rewritten after building, such
   * as an int8 model); `signature` names its inputs, against which feeds are checked.
   */
  static async fromBytes(bytes: Uint8Array, signature: GraphSignature, opts: RuntimeOptions & { optimizedModelFile?: string; profileFilePrefix?: string } = {}): Promise<InferenceRunner> {
    const options = sessionOptions(opts, 'inference');
    if (opts.optimizedModelFile !== undefined) options.optimizedModelFilePath = opts.optimizedModelFile;
    if (opts.profileFilePrefix !== undefined) {
      options.enableProfiling = true;
      options.profileFilePrefix = opts.profileFilePrefix;
    }
    const session = await ort.InferenceSession.create(bytes, options);
    return new InferenceRunner(signature, session);
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

  /** Ends profiling of a session opened with `profileFilePrefix`: the runtime writes `<prefix>_<time>.json`. */
  endProfiling(): void {
    this.session.endProfiling();
  }

  /** Releases the native session. */
  async release(): Promise<void> {
    await this.session.release();
  }
}

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

/** One event of an ONNX Runtime profile (the Chrome trace format it writes). */
export interface ProfileEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string };
}

/** The profile ONNX Runtime wrote into `dir` (the one JSON file whose name starts with `prefix`), and its path. */
export function readProfile(dir: string, prefix = ''): { file: string; events: ProfileEvent[] } {
  const name = readdirSync(dir).find((f) => f.startsWith(prefix) && f.endsWith('.json'));
  if (!name) throw new Error(`profile: ONNX Runtime wrote no profile into ${dir}`);
  const file = join(dir, name);
  return { file, events: JSON.parse(readFileSync(file, 'utf8')) as ProfileEvent[] };
}
