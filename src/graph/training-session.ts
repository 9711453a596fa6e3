// Training steps on ONNX Runtime: one run of the training graph (src/graph/training-graph.ts) computes the loss,
// the gradients, the optimizer's new state and the step directions; the parameters then step in place here.
import * as ort from 'onnxruntime-node';
import type { Graph } from './builder.js';
import { nchwcBlock } from './nchwc-block.js';
import type { Optimizer } from './optim/optimizer.js';
import { stateName } from './optim/optimizer.js';
import { checkFeeds, collectGarbage, sessionOptions, toOrt, type GraphSignature, type RuntimeOptions } from './runtime.js';
import { buildTrainingGraphWithOutputs, type TrainingGraphOptions, type UpdateUnit } from './training-graph.js';
import type { Tensor, TensorData } from './types.js';

/** Options of TrainingSession.create: the training graph's and the runtime's. */
export type TrainingOptions = Omit<TrainingGraphOptions, 'parameterStep'> &
  RuntimeOptions & {
    /** Run depthwise convolutions on ONNX Runtime's NCHWc kernels where this machine has them (nchwc.ts).
     *  Default true. */
    nchwc?: boolean;
  };

/** Below this many bytes of copied outputs per step, V8's own collection keeps up. */
const GC_THRESHOLD_BYTES = 32 * 2 ** 20;

/**
 * A training step session. Each parameter and optimizer state buffer exists once: both are fed without copying,
 * ORT writes the new state straight over the old (a pre-allocated output on the input's buffer), and the parameters
 * step in place here (p -= lr * multiplier * direction, one pass over them). Writing state in place is safe because
 * the old value is read only by nodes that feed the node writing the new value (checked when the session opens).
 * Against a self-contained graph with its own parameter outputs this saves a second set of parameters and of state
 * buffers (SSD300 with SGD: 200 MB).
 */
export class TrainingSession {
  /** The forward graph's name and inputs; the session keeps no reference to the graphs themselves, so the
   *  parameters' initial values can be collected once the caller drops them. */
  readonly signature: GraphSignature;
  readonly optimizer: Optimizer;
  /** Parameter names in the graph's order. */
  private readonly names: string[];
  private readonly params = new Map<string, Float32Array>();
  /** Each parameter's state by '<param>.<state>': views into its update's buffers. */
  private readonly state = new Map<string, Float32Array>();
  /** Each parameter's step direction after a run, in `names` order: a view into its update's buffer. */
  private readonly directions: Float32Array[] = [];
  private readonly feeds: Record<string, ort.Tensor> = {};
  private readonly fetches: Record<string, ort.Tensor | null> = {};
  private readonly multipliers: number[];
  private readonly scalarOutputs: string[];
  /** Bytes of the outputs that the binding copies back each step (see collectGarbage). */
  private readonly outputBytes: number;
  private steps = 0;

  private constructor(graph: Graph, trainingGraph: Graph, units: readonly UpdateUnit[], readonly session: ort.InferenceSession, opts: TrainingOptions) {
    this.signature = { name: graph.name, inputs: graph.inputs };
    this.optimizer = opts.optimizer;
    this.names = graph.parameters.map((p) => p.name);
    for (const p of graph.parameters) {
      const value = Float32Array.from(p.init);
      this.params.set(p.name, value);
      this.feeds[p.name] = new ort.Tensor('float32', value, [...(p.shape as number[])]);
    }
    let bytes = 0;
    const directionOf = new Map<string, Float32Array>();
    for (const unit of units) {
      // One buffer per state, fed as the input and bound as the output of its next value: updated in place.
      const buffers = unit.stateInputs.map((input, i) => {
        const buf = new Float32Array(unit.size);
        const tensor = new ort.Tensor('float32', buf, unit.shape);
        this.feeds[input] = tensor;
        this.fetches[unit.stateOutputs[i]!] = tensor;
        bytes += buf.byteLength;
        return buf;
      });
      let direction = buffers[unit.stateOutputs.indexOf(unit.direction)];
      if (!direction) {
        direction = new Float32Array(unit.size);
        this.fetches[unit.direction] = new ort.Tensor('float32', direction, unit.shape);
        bytes += direction.byteLength;
      }
      for (const m of unit.members) {
        this.optimizer.state.forEach((s, i) => this.state.set(stateName(m.name, s), buffers[i]!.subarray(m.offset, m.offset + m.length)));
        directionOf.set(m.name, direction.subarray(m.offset, m.offset + m.length));
      }
    }
    for (const name of this.names) this.directions.push(directionOf.get(name)!);
    this.outputBytes = bytes;
    this.multipliers = graph.parameters.map((p) => opts.lrMultipliers?.[p.group] ?? 1);
    const bound = new Set(Object.keys(this.fetches));
    this.scalarOutputs = trainingGraph.outputs.filter((o) => !bound.has(o.name) && o.tensor.shape.every((d) => d === 1)).map((o) => o.name);
    for (const name of this.scalarOutputs) this.fetches[name] = null;
  }

  /** Builds the training graph of `g` (parameterStep 'caller') and opens its session; parameters start at their
   *  `init` values, optimizer state at zero. */
  static async create(g: Graph, loss: Tensor, opts: TrainingOptions): Promise<TrainingSession> {
    const block = (opts.nchwc ?? true) ? await nchwcBlock() : 0;
    const gradients = { ...opts.gradients, nchwcBlock: block };
    const { graph: tg, units } = buildTrainingGraphWithOutputs(g, loss, { ...opts, gradients, parameterStep: 'caller' });
    checkStateInPlace(tg, units);
    const bytes = tg.toBytes({ parameters: 'inputs', nchwcBlock: block });
    const session = await ort.InferenceSession.create(bytes, sessionOptions(opts, 'training'));
    const result = new TrainingSession(g, tg, units, session, opts);
    // The session holds its own copy of the parameters: a caller that dropped the initial values and the graph
    // gets that memory back before the first step rather than at V8's leisure.
    if (result.outputBytes >= GC_THRESHOLD_BYTES) collectGarbage();
    return result;
  }

  /** Steps taken (what the optimizer's per-step scalars, such as Adam's bias corrections, count from). */
  get stepCount(): number {
    return this.steps;
  }

  set stepCount(n: number) {
    if (!Number.isInteger(n) || n < 0) throw new Error(`stepCount must be a whole number >= 0, got ${n}`);
    this.steps = n;
  }

  /** One step at base learning rate `lr`: returns the forward graph's scalar outputs (the loss terms, computed
   *  before the update) as numbers, and 'grad_norm' (before clipping) when clipping is on. */
  async step(feeds: Record<string, TensorData>, lr: number): Promise<Record<string, number>> {
    checkFeeds(this.signature, feeds);
    const ortFeeds: Record<string, ort.Tensor> = { ...this.feeds };
    for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = toOrt(v);
    for (const [k, v] of Object.entries(this.optimizer.scalarValues?.(this.steps + 1) ?? {})) ortFeeds[k] = new ort.Tensor('float32', Float32Array.of(v), []);
    const out = await this.session.run(ortFeeds, this.fetches);
    const result: Record<string, number> = {};
    for (const name of this.scalarOutputs) result[name] = Number((out[name] as ort.Tensor).data[0]);
    // The binding returns a copy of every fetched output, the bound ones too: garbage the size of the state that
    // V8 would otherwise collect only after the next step's peak (SSD300: 100 MB on it).
    if (this.outputBytes >= GC_THRESHOLD_BYTES) collectGarbage();
    for (let k = 0; k < this.names.length; k++) {
      const p = this.params.get(this.names[k]!)!;
      const d = this.directions[k]!;
      const rate = lr * this.multipliers[k]!;
      for (let i = 0; i < p.length; i++) p[i]! -= rate * d[i]!;
    }
    this.steps++;
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

  /** Copies of the optimizer state buffers by '<param>.<state>' (e.g. 'conv.weight.momentum'). */
  getOptimizerState(): Map<string, Float32Array> {
    return new Map([...this.state].map(([k, v]) => [k, v.slice()]));
  }

  /** Replaces optimizer state buffers (by '<param>.<state>'). */
  setOptimizerState(m: ReadonlyMap<string, Float32Array>): void {
    copyInto('setOptimizerState', this.state, m);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Checks that every reader of an old state buffer feeds the node that writes its new value (see TrainingSession). */
function checkStateInPlace(tg: Graph, units: readonly UpdateUnit[]): void {
  const producer = new Map<string, number>();
  tg.nodes.forEach((n, i) => n.outputs.forEach((o) => producer.set(o, i)));
  const readers = new Map<string, number[]>();
  tg.nodes.forEach((n, i) => n.inputs.forEach((x) => x && readers.set(x, [...(readers.get(x) ?? []), i])));
  for (const unit of units) {
    unit.stateInputs.forEach((input, k) => {
      const writer = tg.nodes[producer.get(unit.stateOutputs[k]!)!]!;
      for (const r of readers.get(input) ?? []) {
        const feedsWriter = tg.nodes[r]!.outputs.some((o) => writer.inputs.includes(o));
        if (!feedsWriter) throw new Error(`TrainingSession: optimizer state '${input}' is read by node '${tg.nodes[r]!.name}', which does not feed the node that overwrites it`);
      }
    });
  }
}

function copyInto(op: string, target: Map<string, Float32Array>, source: ReadonlyMap<string, Float32Array>): void {
  for (const [k, v] of source) {
    const t = target.get(k);
    if (!t) throw new Error(`${op}: '${k}' is not a parameter of the graph`);
    if (t.length !== v.length) throw new Error(`${op}: '${k}' has ${v.length} values, expected ${t.length}`);
    t.set(v);
  }
}
