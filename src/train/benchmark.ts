// Timing a model on this machine, the way ../bench's PyTorch anchor times its SSD300: inference per image at
// batch 1 (mean of 5 runs after a warm-up) and one SGD training step (forward, MultiBox loss, backward,
// update) at a batch, fastest of the steps after the first; random weights, images and targets. Any model of
// the family: batch norm builds with batch statistics in the training step (StepSession, with the trainer's
// defaults) and with the running statistics for inference.
import { createRequire } from 'node:module';
import { Random } from '../data/random.js';
import { InferenceRunner, type TensorData } from '../graph/index.js';
import { initWeights, type ParameterSpec } from '../nn/layers.js';
import { buildNetwork, modelConfig } from '../nn/models/index.js';
import { StepSession } from './session.js';

/** Options of {@link benchmarkModel}. */
export interface BenchmarkOptions {
  /** Architecture: a name of the model family (MODELS), e.g. 'ssd300', 'ssd-tiny'. */
  model: string;
  /** Training batch size. Default 8. */
  batch?: number;
  /** ONNX Runtime intra-op threads. Default: all cores. */
  threads?: number;
  /** Training steps to run, the first being warm-up (at least 2). Default 3. */
  steps?: number;
  /** Timed inference runs after one warm-up. Default 5. */
  inferenceRuns?: number;
}

/** What {@link benchmarkModel} measured. Times in seconds, memory in MB (2^20 bytes). */
export interface BenchmarkResult {
  model: string;
  batch: number;
  threads: number | null;
  /** Trainable parameters. */
  parameters: number;
  /** Batch-norm running statistics (0 for networks without batch norm). */
  buffers: number;
  onnxruntime: string;
  node: string;
  inference_s_per_image: number;
  /** batch / train_step_s. */
  train_images_per_s: number;
  train_step_s: number;
  /** Every training step's time, the first included. */
  train_step_times_s: number[];
  inference_setup_s: number;
  train_setup_s: number;
  peak_rss_mb: number;
}

/** Standard normal samples (Box-Muller) from a seeded PRNG. */
function normal(n: number, rng: Random): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - rng.next()));
    const t = 2 * Math.PI * rng.next();
    out[i] = r * Math.cos(t);
    if (i + 1 < n) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

const count = (specs: readonly ParameterSpec[]): number => specs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);

const seconds = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e9;

/** Times inference and training of a freshly initialised model. */
export async function benchmarkModel(options: BenchmarkOptions): Promise<BenchmarkResult> {
  const batch = options.batch ?? 8;
  const steps = Math.max(2, options.steps ?? 3);
  const runs = options.inferenceRuns ?? 5;
  const runtime = options.threads === undefined ? {} : { threads: options.threads };
  // The 20 VOC classes and the background; modelConfig throws, listing the known models, for an unknown name.
  const net = buildNetwork(modelConfig(options.model));
  const nClasses = net.nClasses;
  // Each stage builds its graph from fresh weights (same seed) and keeps no other reference to them, as a
  // training program that loaded a model would: PyTorch's process holds one copy of the parameters too.
  const weights = () => initWeights(net.parameters(), 0);
  const rng = new Random(1);
  const { width, height } = net.inputSize;
  const P = net.priorCount;

  // Inference, batch 1.
  const { inference, inferenceSetup } = await (async () => {
    let t0 = process.hrtime.bigint();
    // Batch norm (where the network has it) on the running statistics.
    const runner = await InferenceRunner.create(net.forwardGraph(weights(), { batch: 1, norm: 'eval' }).graph, new Map(), runtime);
    const inferenceSetup = seconds(t0);
    const one: TensorData = { data: normal(3 * height * width, rng), dims: [1, 3, height, width], dtype: 'float32' };
    await runner.run({ images: one });
    t0 = process.hrtime.bigint();
    for (let i = 0; i < runs; i++) await runner.run({ images: one });
    const inference = seconds(t0) / runs;
    await runner.release();
    return { inference, inferenceSetup };
  })();

  // Training steps at `batch`: every 300th prior holds an object of a random class, offsets random.
  const classes = new BigInt64Array(batch * P);
  for (let i = 0; i < batch; i++) for (let p = 0; p < P; p += 300) classes[i * P + p] = BigInt(1 + Math.floor(rng.next() * (nClasses - 1)));
  const batchData = { size: batch, images: normal(batch * 3 * height * width, rng), trueClasses: classes, trueLocs: normal(batch * P * 4, rng) };
  let t0 = process.hrtime.bigint();
  // SGD with momentum 0.9, weight decay 5e-4, biases at 2x: the trainer's defaults.
  const session = await StepSession.create(net, weights(), batch, runtime);
  const trainSetup = seconds(t0);
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    t0 = process.hrtime.bigint();
    const losses = await session.step(batchData, 1e-3);
    times.push(seconds(t0));
    if (!Number.isFinite(losses.loss)) throw new Error(`benchmark: training step ${i} gave loss ${losses.loss}`);
  }
  await session.release();

  const ortVersion = (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;
  return {
    model: options.model,
    batch,
    threads: options.threads ?? null,
    parameters: count(net.trainableParameters()),
    buffers: count(net.parameters().filter((s) => s.buffer)),
    onnxruntime: ortVersion,
    node: process.versions.node,
    inference_s_per_image: inference,
    train_images_per_s: batch / Math.min(...times.slice(1)),
    train_step_s: Math.min(...times.slice(1)),
    train_step_times_s: times,
    inference_setup_s: inferenceSetup,
    train_setup_s: trainSetup,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
  };
}
