// A trained model of the family ready to use: network + weights + config, with batch-norm layers in inference
// mode (running statistics). Detects in image files, evaluates on a dataset split, saves and loads the same
// safetensors model file as `SSD` (config JSON under `ssd.config`, buffers stored with the parameters).
import sharp, { type OutputInfo } from 'sharp';
import { BoxCoder } from '../../boxes/coder.js';
import { DetectionPostprocessor } from '../../boxes/detect.js';
import { generatePriors } from '../../boxes/priors.js';
import { DataLoader } from '../../data/loader.js';
import type { Dataset } from '../../data/types.js';
import { evaluateDetections } from '../../eval/evaluate.js';
import type { Evaluation, ImageResult, Metric } from '../../eval/types.js';
import { InferenceRunner, type RuntimeOptions } from '../../graph/index.js';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../../io/safetensors.js';
import type { Weights } from '../layers.js';
import type { SSDNetwork } from '../ssd.js';
import { ZooNetwork } from './network.js';
import { buildZooNetwork, type ZooModelConfig } from './registry.js';

/** One detected object; `box` in pixels of the image, clipped to it. */
export interface ZooDetection {
  label: string;
  /** 1..nClasses-1 (0 is the background). */
  classIndex: number;
  score: number;
  box: { xmin: number; ymin: number; xmax: number; ymax: number };
}

/** Detection settings: defaults as `SSD.detect` (0.2, 0.45, 200). */
export interface ZooDetectOptions {
  minScore?: number;
  maxOverlap?: number;
  topK?: number;
}

/** Detections of one dataset image: `[xmin, ymin, xmax, ymax]` pixel rows, labels 1..C, scores. */
export interface ImageDetectionArrays {
  id: string;
  boxes: Float32Array;
  labels: Int32Array;
  scores: Float32Array;
}

const CONFIG_KEY = 'ssd.config';

/** A model of the family with its weights. */
export class ZooModel {
  readonly network: SSDNetwork;
  private runner: Promise<InferenceRunner> | undefined;
  private post: DetectionPostprocessor | undefined;

  constructor(
    readonly config: ZooModelConfig,
    readonly weights: Weights,
    readonly runtime: RuntimeOptions = {},
  ) {
    this.network = buildZooNetwork(config);
    for (const spec of this.network.parameters()) {
      const v = weights.get(spec.name);
      const n = spec.shape.reduce((a, b) => a * b, 1);
      if (!v || v.length !== n) throw new Error(`${config.architecture}: parameter '${spec.name}' [${spec.shape}] is ${v ? `${v.length} values` : 'missing'}`);
    }
  }

  /** Reads a model file written by {@link save}. */
  static load(file: string, runtime: RuntimeOptions = {}): ZooModel {
    const st = readSafetensors(file);
    const text = st.metadata[CONFIG_KEY];
    if (text === undefined) throw new Error(`${file}: not an ssd-ts model file (no '${CONFIG_KEY}' metadata)`);
    const config = JSON.parse(text) as ZooModelConfig;
    const weights = new Map<string, Float32Array>();
    for (const [k, t] of st.tensors) weights.set(k, t.data as Float32Array);
    return new ZooModel(config, weights, runtime);
  }

  /** Writes the model file atomically: every parameter and buffer as F32, the config as metadata. */
  save(file: string): void {
    const tensors = new Map<string, TensorToWrite>();
    for (const spec of this.network.parameters()) tensors.set(spec.name, { shape: spec.shape, data: this.weights.get(spec.name)! });
    writeSafetensors(file, tensors, { format: 'ssd-ts', 'ssd.format': '1', [CONFIG_KEY]: JSON.stringify(this.config) });
  }

  /** Class names, index 0 = background. */
  get classNames(): readonly string[] {
    return this.config.classNames;
  }

  /** Raw outputs for `batch` normalised images (N, 3, H, W): locs (N, P, 4) offsets and scores (N, P, K) logits. */
  async predict(images: Float32Array, batch: number): Promise<{ locs: Float32Array; scores: Float32Array }> {
    const { width, height } = this.config.inputSize;
    this.runner ??= this.openSession();
    const out = await (await this.runner).run({ images: { data: images, dims: [batch, 3, height, width], dtype: 'float32' } });
    return { locs: out.locs!.data as Float32Array, scores: out.scores!.data as Float32Array };
  }

  private openSession(): Promise<InferenceRunner> {
    const net = this.network;
    const build = () => net.forwardGraph(this.weights, { name: this.config.architecture }).graph;
    const graph = net instanceof ZooNetwork ? net.withNormMode('eval', build) : build();
    const params = new Map([...this.weights].filter(([k]) => graph.parameters.some((p) => p.name === k)));
    return InferenceRunner.create(graph, params, this.runtime);
  }

  /** One image's raw outputs -> detections in pixels of a `width` x `height` image. */
  postprocess(locs: Float32Array, scores: Float32Array, width: number, height: number, o: ZooDetectOptions = {}): ZooDetection[] {
    this.post ??= new DetectionPostprocessor(new BoxCoder(generatePriors(this.config.priors), { variances: this.config.variances }));
    const d = this.post.run(locs, scores, { minScore: o.minScore ?? 0.2, maxOverlap: o.maxOverlap ?? 0.45, topK: o.topK ?? 200 });
    const clamp = (v: number, hi: number): number => Math.min(hi, Math.max(0, v));
    const out: ZooDetection[] = [];
    for (let i = 0; i < d.count; i++) {
      const b = d.boxes;
      out.push({
        label: this.config.classNames[d.labels[i]!]!,
        classIndex: d.labels[i]!,
        score: d.scores[i]!,
        box: { xmin: clamp(b[4 * i]! * width, width), ymin: clamp(b[4 * i + 1]! * height, height), xmax: clamp(b[4 * i + 2]! * width, width), ymax: clamp(b[4 * i + 3]! * height, height) },
      });
    }
    return out;
  }

  /** Detects objects in an image file: resized to the input size (bilinear, no letterbox), normalised, run. */
  async detect(file: string, options: ZooDetectOptions = {}): Promise<ZooDetection[]> {
    const { width: W, height: H } = this.config.inputSize;
    let raw: { data: Buffer; info: OutputInfo }, size: { width: number; height: number };
    try {
      const upright = await sharp(file).rotate().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
      size = { width: upright.info.width, height: upright.info.height };
      raw = await sharp(upright.data, { raw: { width: size.width, height: size.height, channels: upright.info.channels } }).resize(W, H, { fit: 'fill', kernel: 'linear' }).raw().toBuffer({ resolveWithObject: true });
    } catch (e) {
      throw new Error(`${file}: cannot read image: ${(e as Error).message}`);
    }
    const n = W * H, c = raw.info.channels, { mean, std } = this.config.normalization;
    const x = new Float32Array(3 * n);
    for (let k = 0; k < 3; k++) for (let i = 0; i < n; i++) x[k * n + i] = (raw.data[i * c + (c === 1 ? 0 : k)]! / 255 - mean[k]!) / std[k]!;
    const { locs, scores } = await this.predict(x, 1);
    return this.postprocess(locs, scores, size.width, size.height, options);
  }

  /**
   * Runs the model on every image of `dataset` (resize + normalise, no augmentation) and scores the detections
   * with `metric` (detections as the reference evaluates: min score 0.01, NMS 0.45, top 200). The dataset's
   * classes must be the model's, in the same order.
   */
  async evaluate(dataset: Pick<Dataset, 'samples' | 'classNames'>, options: { metric?: Metric; batch?: number; workers?: number } = {}): Promise<{ evaluation: Evaluation; detections: ImageDetectionArrays[] }> {
    const want = this.config.classNames.slice(1).join('\n');
    if (dataset.classNames.join('\n') !== want) throw new Error(`evaluate: the dataset's classes (${dataset.classNames.join(', ')}) are not the model's (${this.config.classNames.slice(1).join(', ')})`);
    const loader = await DataLoader.create({
      samples: dataset.samples,
      batchSize: options.batch ?? 16,
      inputSize: this.config.inputSize.width,
      augment: false,
      shuffle: false,
      normalization: this.config.normalization,
      workers: options.workers,
    });
    const detections: ImageDetectionArrays[] = new Array(dataset.samples.length);
    try {
      for await (const b of loader.epoch(0)) {
        const { locs, scores } = await this.predict(b.images, b.size);
        const P = locs.length / (4 * b.size), K = scores.length / (P * b.size);
        for (let k = 0; k < b.size; k++) {
          const s = b.sampleIndices[k]!;
          const found = this.postprocess(locs.subarray(k * P * 4, (k + 1) * P * 4), scores.subarray(k * P * K, (k + 1) * P * K), b.imageSizes[2 * k]!, b.imageSizes[2 * k + 1]!, { minScore: 0.01, maxOverlap: 0.45, topK: 200 });
          const boxes = new Float32Array(4 * found.length), labels = new Int32Array(found.length), sc = new Float32Array(found.length);
          found.forEach((d, i) => {
            boxes.set([d.box.xmin, d.box.ymin, d.box.xmax, d.box.ymax], 4 * i);
            labels[i] = d.classIndex;
            sc[i] = d.score;
          });
          detections[s] = { id: dataset.samples[s]!.id, boxes, labels, scores: sc };
        }
      }
    } finally {
      await loader.close();
    }
    const images: ImageResult[] = dataset.samples.map((s, i) => ({ detections: detections[i]!, groundTruth: { boxes: s.boxes, labels: s.labels, difficult: s.difficult } }));
    const evaluation = evaluateDetections(images, { metric: options.metric ?? 'voc07', numClasses: dataset.classNames.length, classNames: dataset.classNames });
    return { evaluation, detections };
  }

  /** Releases the inference session. */
  async dispose(): Promise<void> {
    const r = this.runner;
    this.runner = undefined;
    if (r) await (await r).release();
  }
}
