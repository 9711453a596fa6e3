// AdamW as one ONNX Runtime session per step, for the demo's short from-scratch training: forward, MultiBox loss,
// backward (src/graph's autodiff) and the AdamW update (Loshchilov & Hutter; PyTorch's torch.optim.AdamW
// semantics, decoupled weight decay on weights only) in one graph. The graph engine's TrainingSession does SGD
// with momentum; this keeps the same step interface (src/train/session.ts's StepSession) with two state buffers
// per parameter instead of one.
import * as ort from 'onnxruntime-node';
import { gradients, type Graph, type Parameter, type Tensor } from '../graph/index.js';
import { sessionOptions } from '../graph/runtime.js';
import type { Weights } from '../nn/layers.js';
import type { MultiBoxLossOptions } from '../nn/loss.js';
import type { SSDNetwork } from '../nn/ssd.js';
import { trainingGraph } from '../train/model.js';
import type { StepBatch, StepLosses } from '../train/session.js';

/** Options of {@link AdamWSession.create}; defaults as torch.optim.AdamW except the weight decay. */
export interface AdamWOptions {
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  epsilon?: number;
  /** Decoupled weight decay of the 'weight' group (conv kernels; not biases or batch-norm shifts). Default 0.01. */
  weightDecay?: number;
  /** ONNX Runtime intra-op threads. Default: all cores. */
  threads?: number;
  /** MultiBox loss settings. Default: the reference's. */
  loss?: MultiBoxLossOptions;
}

const M = (p: string): string => `${p}.adam_m`;
const V = (p: string): string => `${p}.adam_v`;
const NEXT = (p: string): string => `${p}.next`;

/** The training graph with the AdamW update: inputs + 'lr' (bias-corrected step size) + params + moments. */
function adamGraph(g: Graph, loss: Tensor, o: Required<Omit<AdamWOptions, 'threads' | 'loss'>>): Graph {
  const t = g.clone(`${g.name}-adamw`);
  const lr = t.input('lr', 'float32', []);
  const wdLr = t.input('wd_lr', 'float32', []); // weight decay x base lr (decoupled: not bias-corrected)
  const params = g.parameters as readonly Parameter[];
  const grads = gradients(t, loss, params);
  for (const p of params) {
    const gr = grads.get(p.name)!;
    const shape = [...(p.shape as number[])];
    const m = t.input(M(p.name), 'float32', shape);
    const v = t.input(V(p.name), 'float32', shape);
    const m1 = t.add(t.mul(m, o.beta1), t.mul(gr, 1 - o.beta1));
    const v1 = t.add(t.mul(v, o.beta2), t.mul(t.mul(gr, gr), 1 - o.beta2));
    let next = t.sub(p, t.mul(t.div(m1, t.add(t.sqrt(v1), o.epsilon)), lr));
    if (o.weightDecay > 0 && p.group === 'weight') next = t.sub(next, t.mul(p, wdLr));
    t.output(next, NEXT(p.name));
    t.output(m1, NEXT(M(p.name)));
    t.output(v1, NEXT(V(p.name)));
  }
  return t;
}

/** A training step session with AdamW; the same step interface as StepSession. */
export class AdamWSession {
  private state = new Map<string, ort.Tensor>();
  private t = 0;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly network: SSDNetwork,
    private readonly params: readonly Parameter[],
    private readonly options: Required<Omit<AdamWOptions, 'threads' | 'loss'>>,
    readonly batch: number,
  ) {
    for (const p of params) {
      const dims = [...(p.shape as number[])];
      this.state.set(p.name, new ort.Tensor('float32', Float32Array.from(p.init), dims));
      this.state.set(M(p.name), new ort.Tensor('float32', new Float32Array(p.init.length), dims));
      this.state.set(V(p.name), new ort.Tensor('float32', new Float32Array(p.init.length), dims));
    }
  }

  /** Builds the graph for batches of `batch` images (batch norm on batch statistics) and opens its session. */
  static async create(network: SSDNetwork, weights: Weights, batch: number, options: AdamWOptions = {}): Promise<AdamWSession> {
    const o = { beta1: options.beta1 ?? 0.9, beta2: options.beta2 ?? 0.999, epsilon: options.epsilon ?? 1e-8, weightDecay: options.weightDecay ?? 0.01 };
    const { graph, loss } = trainingGraph(network, weights, batch, options.loss);
    const tg = adamGraph(graph, loss, o);
    const session = await ort.InferenceSession.create(tg.toBytes({ parameters: 'inputs' }), sessionOptions({ threads: options.threads }, 'training'));
    return new AdamWSession(session, network, graph.parameters as readonly Parameter[], o, batch);
  }

  /** One AdamW step at learning rate `lr`; returns the loss terms before the update. */
  async step(batch: StepBatch, lr: number): Promise<StepLosses> {
    const { width, height } = this.network.inputSize;
    const P = this.network.priorCount, n = batch.size;
    if (n !== this.batch) throw new Error(`training step: the graph takes batches of ${this.batch} images, got ${n}`);
    this.t++;
    const { beta1, beta2, weightDecay } = this.options;
    const corrected = (lr * Math.sqrt(1 - beta2 ** this.t)) / (1 - beta1 ** this.t);
    const feeds: Record<string, ort.Tensor> = {
      images: new ort.Tensor('float32', batch.images, [n, 3, height, width]),
      true_classes: new ort.Tensor('int64', batch.trueClasses, [n, P]),
      true_offsets: new ort.Tensor('float32', batch.trueLocs, [n, P, 4]),
      lr: new ort.Tensor('float32', Float32Array.of(corrected), []),
      wd_lr: new ort.Tensor('float32', Float32Array.of(lr * weightDecay), []),
    };
    for (const [k, v] of this.state) feeds[k] = v;
    const out = await this.session.run(feeds);
    for (const k of [...this.state.keys()]) this.state.set(k, out[NEXT(k)] as ort.Tensor);
    const num = (k: string): number => Number((out[k] as ort.Tensor).data[0]);
    return { loss: num('loss'), loc_loss: num('loc_loss'), conf_loss: num('conf_loss'), positives: num('positives') };
  }

  /** The current parameters by name (copies). */
  parameters(): Map<string, Float32Array> {
    return new Map(this.params.map((p) => [p.name, (this.state.get(p.name)!.data as Float32Array).slice()]));
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
