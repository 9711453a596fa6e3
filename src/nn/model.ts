// A detector ready to use: a network, its weights and its config, saved to and loaded from one safetensors file,
// and `detect` that goes from an image file to labelled boxes in the image's pixels. A model can also run an ONNX
// file as it is (an int8 model from `ssd quantize`, or a raw `ssd export`): same preparation, post-processing and
// API, but no float32 weights to read, change or train.
import { BoxCoder } from '../boxes/coder.js';
import { DetectionPostprocessor } from '../boxes/detect.js';
import { generatePriors } from '../boxes/priors.js';
import { InferenceRunner, type RuntimeOptions } from '../graph/index.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { detectModelFileKind, readModelFile } from '../io/file-kind.js';
import { decodeResized, resizePixels, type ImageReadOptions } from '../io/image.js';
import { assertFiniteWeights } from '../io/non-finite.js';
import { readOnnxModelFile, type OnnxModelFile } from '../io/onnx-file.js';
import { encodeSafetensors, readSafetensors, writeSafetensors, type TensorToWrite } from '../io/safetensors.js';
import { validateConfig, type ModelConfig } from './config.js';
import { ONNX_CONFIG_KEY, ONNX_OUTPUTS_KEY, ONNX_PRECISION_KEY } from './export.js';
import { initWeights, type Weights } from './layers.js';
import { buildNetwork, modelConfig } from './models/index.js';
import type { SSDNetwork } from './ssd.js';

/** The metadata key holding the model config (JSON) in a model file. */
export const CONFIG_KEY = 'ssd.config';
/** The metadata key holding the file format version. */
export const FORMAT_KEY = 'ssd.format';
/** The metadata key only a training checkpoint has (its step and loader position, see src/train/checkpoint.ts). */
const TRAIN_STATE_KEY = 'ssd.train_state';
/** The prefix of a training checkpoint's optimizer tensors, which are not weights. */
const OPTIMIZER_PREFIX = 'optimizer/';
const FORMAT_VERSION = '1';

/** An image to detect in: a file path, encoded bytes (JPEG, PNG, WebP, ...), or decoded 8-bit pixels (HWC, RGB or RGBA). */
export type ImageInput = string | Uint8Array | { data: Uint8Array | Uint8ClampedArray; width: number; height: number; channels: 3 | 4 };

/** One detected object; `box` in pixels of the original image (after EXIF orientation), clipped to it. */
export interface Detection {
  /** Class name from the model config. */
  label: string;
  /** Class index (1..nClasses-1; 0 is the background). */
  classIndex: number;
  /** Class probability, in (minScore, 1]. */
  score: number;
  box: { xmin: number; ymin: number; xmax: number; ymax: number };
}

/** Options of {@link SSD.detect}. */
export interface DetectOptions {
  /** Keep a box only when its class probability is above this. Default 0.2. */
  minScore?: number;
  /** Within a class, drop a box whose IoU with a higher-scored kept box is above this. Default 0.45. */
  maxOverlap?: number;
  /** At most this many detections, the highest scored. Default 200. */
  topK?: number;
  /** Class names (or indices) never to report. Default none. */
  suppress?: Array<string | number>;
}

/** Options of {@link SSD.load} and {@link SSD.create}. */
export interface LoadOptions {
  /** ONNX Runtime intra-op threads for inference (default: all cores). */
  threads?: number;
}

/**
 * The ONNX file a model runs as it is (SSD.load of a .onnx file): its bytes, name and metadata, and whether it
 * computes in int8 (QuantizeLinear / DequantizeLinear around its layers) or float32.
 */
export interface OnnxModelSource {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly precision: 'int8' | 'float32';
  readonly metadata: Readonly<Record<string, string>>;
}

/** A prepared network input: normalised float32 CHW planes, and the size of the image it came from. */
export interface PreparedImage {
  /** (3, H, W) at the model's input size, (pixel/255 - mean) / std. */
  data: Float32Array;
  width: number;
  height: number;
}

/**
 * An SSD detector: network + weights + config. Load one with `await SSD.load(file)`, make a fresh one with
 * `SSD.create(config)`, then `await model.detect(image)`.
 */
export class SSD {
  readonly config: ModelConfig;
  /** The network the config describes (its parameters, priors and graphs); an ONNX-backed model runs `onnx` instead. */
  readonly network: SSDNetwork;
  /** Runtime settings for inference sessions. */
  readonly runtime: RuntimeOptions;
  /**
   * The ONNX file this model runs, when it was loaded from one (`SSD.load('m.int8.onnx')`); undefined for a model
   * of float32 weights. Such a model detects, prepares, predicts, post-processes, serves and exports like any
   * other, but has no weights: `weights` and `setWeights` throw, and `save` / `toBytes` give the ONNX file as loaded.
   */
  readonly onnx: OnnxModelSource | undefined;
  private params: Map<string, Float32Array>;
  private runner: Promise<InferenceRunner> | undefined;
  private postprocessor: DetectionPostprocessor | undefined;

  private constructor(config: ModelConfig, source: Map<string, Float32Array> | OnnxModelSource, options: LoadOptions) {
    this.config = config;
    this.network = buildNetwork(config);
    this.runtime = options.threads === undefined ? {} : { threads: options.threads };
    this.onnx = source instanceof Map ? undefined : source;
    this.params = source instanceof Map ? checkWeights(this.network, source, 'weights') : new Map();
  }

  /** A new model for `config` (default: SSD300 for the 20 VOC classes), weights initialised from `seed`. */
  static create(config: ModelConfig = modelConfig('ssd300'), options: LoadOptions & { seed?: number; weights?: Weights } = {}): SSD {
    const c = validateConfig(structuredClone(config));
    const weights = options.weights ? new Map(options.weights) : initWeights(buildNetwork(c).parameters(), options.seed ?? 0);
    return new SSD(c, weights, options);
  }

  /**
   * Reads a model file written by {@link SSD.save} (safetensors, config in the metadata), a training checkpoint
   * (e.g. runs/<name>/last.safetensors: its `optimizer/...` tensors are left out), or an ONNX file that `ssd
   * quantize` or `ssd export` (raw outputs) wrote, which the model then runs as it is (see {@link SSD.onnx}).
   */
  static async load(file: string, options: LoadOptions = {}): Promise<SSD> {
    const { bytes, kind } = readModelFile(file);
    return kind === 'onnx' ? SSD.fromOnnx(readOnnxModelFile(bytes, { name: file }), options) : SSD.fromFile(readSafetensors(bytes, { name: file }), file, options);
  }

  /** Reads a model from the bytes of a model file (safetensors or ONNX); `name` is used in error messages. */
  static fromBytes(bytes: Uint8Array, options: LoadOptions & { name?: string } = {}): SSD {
    const name = options.name ?? '<buffer>';
    if (detectModelFileKind(bytes.subarray(0, 65536), bytes.byteLength) === 'onnx') return SSD.fromOnnx(readOnnxModelFile(bytes, { name }), options);
    return SSD.fromFile(readSafetensors(bytes, { name }), name, options);
  }

  /**
   * A model that runs an ONNX file of ssd-ts (config in its metadata under `ssd.config`, input `images`, raw
   * outputs `locs` and `scores`). Errors name the file and say what it holds instead.
   */
  private static fromOnnx(file: OnnxModelFile, options: LoadOptions): SSD {
    const { name, metadata } = file;
    const text = metadata[ONNX_CONFIG_KEY];
    if (text === undefined) throw new Error(`${name}: not an ssd-ts ONNX model (no '${ONNX_CONFIG_KEY}' in its metadata); SSD.load runs the ONNX files that ssd quantize and ssd export write`);
    if (metadata[ONNX_OUTPUTS_KEY] === 'detections') {
      throw new Error(`${name}: the model was exported with its post-processing (ssd export --with-postprocess: outputs boxes, labels, scores, num_detections); SSD.load runs files of raw outputs: export without --with-postprocess, or run this one with onnxruntime directly`);
    }
    const config = parseConfig(text, name);
    const { width, height } = config.inputSize;
    const input = file.inputs.length === 1 ? file.inputs[0]! : undefined;
    const [, c, h, w] = input?.dims ?? [];
    if (!input || input.name !== 'images' || input.elemType !== 1 || input.dims.length !== 4 || c !== 3 || h !== height || w !== width) {
      const have = file.inputs.map((i) => `'${i.name}' [${i.dims}]`).join(', ') || 'none';
      throw new Error(`${name}: an ssd-ts model takes one input 'images' float32 [N, 3, ${height}, ${width}] (its config's input size); this file's inputs: ${have}`);
    }
    const outputs = file.outputs.map((o) => o.name);
    if (!outputs.includes('locs') || !outputs.includes('scores')) throw new Error(`${name}: an ssd-ts model gives outputs 'locs' and 'scores'; this file gives ${outputs.map((o) => `'${o}'`).join(', ')}`);
    const precision = metadata[ONNX_PRECISION_KEY] === 'int8' || file.quantizeNodes > 0 ? 'int8' : 'float32';
    try {
      return new SSD(config, { name, bytes: file.bytes, precision, metadata }, options);
    } catch (e) {
      throw new Error(`${name}: model config: ${(e as Error).message}`);
    }
  }

  private static fromFile(file: ReturnType<typeof readSafetensors>, name: string, options: LoadOptions): SSD {
    const text = file.metadata[CONFIG_KEY];
    if (text === undefined) throw new Error(`${name}: not an ssd-ts model file (no '${CONFIG_KEY}' in the safetensors metadata)`);
    const config = parseConfig(text, name);
    const checkpoint = file.metadata[TRAIN_STATE_KEY] !== undefined;
    const weights = new Map<string, Float32Array>();
    for (const [key, t] of file.tensors) {
      if (checkpoint && key.startsWith(OPTIMIZER_PREFIX)) continue;
      if (t.dtype !== 'F32') throw new Error(`${name}: tensor '${key}' is ${t.dtype}; model weights must be floating point`);
      weights.set(key, t.data);
    }
    let network: SSDNetwork;
    try {
      network = buildNetwork(config);
    } catch (e) {
      throw new Error(`${name}: model config: ${(e as Error).message}`);
    }
    for (const spec of network.parameters()) {
      const t = file.tensors.get(spec.name);
      if (t && (t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i]))) {
        throw new Error(`${name}: tensor '${spec.name}' has shape [${t.shape}], the ${config.architecture} for ${config.classNames.length} classes needs [${spec.shape}]`);
      }
    }
    assertFiniteWeights(weights, name, new Map([...file.tensors].map(([k, t]) => [k, t.shape])));
    return new SSD(config, weights, options);
  }

  /**
   * The weights by parameter name (the reference state_dict keys), in parameter order. Do not modify. A model
   * that runs an ONNX file has none: reading them throws, naming the file.
   */
  get weights(): Weights {
    if (this.onnx) throw this.noWeights('has no float32 weights to read');
    return this.params;
  }

  /** Replaces the weights (e.g. after training steps); every parameter must be given with its shape. Throws for a model that runs an ONNX file. */
  setWeights(weights: Weights): void {
    if (this.onnx) throw this.noWeights('has no float32 weights to replace');
    this.params = checkWeights(this.network, weights, 'setWeights');
    void this.dispose();
  }

  private noWeights(what: string): Error {
    const o = this.onnx!;
    return new Error(`${o.name} is ${o.precision === 'int8' ? 'an int8' : 'a float32'} ONNX model and ${what}; to train, export or quantize, load the .safetensors model file it was made from`);
  }

  /**
   * The model file's bytes: every weight as F32 (or F16 with `half`), the config as JSON metadata. A model that
   * runs an ONNX file gives that file's bytes (`half` is refused).
   */
  toBytes(options: { half?: boolean } = {}): Uint8Array {
    if (this.onnx) return this.onnxBytes(options);
    const { tensors, metadata } = this.serialisable(options.half ?? false);
    return encodeSafetensors(tensors, metadata);
  }

  /** Writes the model file atomically (temporary file, flush, rename): safetensors, or the ONNX file it runs. */
  save(file: string, options: { half?: boolean } = {}): void {
    if (this.onnx) return writeFileAtomic(file, this.onnxBytes(options));
    const { tensors, metadata } = this.serialisable(options.half ?? false);
    writeSafetensors(file, tensors, metadata);
  }

  private onnxBytes(options: { half?: boolean }): Uint8Array {
    if (options.half) throw this.noWeights('cannot be stored as float16');
    return this.onnx!.bytes;
  }

  private serialisable(half: boolean): { tensors: Map<string, TensorToWrite>; metadata: Record<string, string> } {
    const tensors = new Map<string, TensorToWrite>();
    for (const spec of this.network.parameters()) {
      const t: TensorToWrite = { shape: spec.shape, data: this.params.get(spec.name)! };
      if (half) t.storeAs = 'F16';
      tensors.set(spec.name, t);
    }
    return { tensors, metadata: { format: 'ssd-ts', [FORMAT_KEY]: FORMAT_VERSION, [CONFIG_KEY]: JSON.stringify(this.config) } };
  }

  /** Class names, index 0 = background. */
  get classNames(): readonly string[] {
    return this.config.classNames;
  }

  /**
   * Runs the network on a batch of prepared images, `images` (N, 3, H, W) float32 normalised.
   * Returns locs (N, P, 4) offsets and scores (N, P, K) raw logits, row-major.
   */
  async predict(images: Float32Array, batch: number): Promise<{ locs: Float32Array; scores: Float32Array }> {
    const { width, height } = this.config.inputSize;
    if (images.length !== batch * 3 * height * width) throw new Error(`predict: ${images.length} values for ${batch} images of 3x${height}x${width}`);
    const runner = await this.session();
    const out = await runner.run({ images: { data: images, dims: [batch, 3, height, width], dtype: 'float32' } });
    return { locs: out.locs!.data as Float32Array, scores: out.scores!.data as Float32Array };
  }

  /**
   * Detects objects in one image: resized to the input size (no letterbox), normalised, run, then
   * softmax, decode, per-class threshold and NMS, top-k. Boxes are in pixels of the original image.
   */
  async detect(image: ImageInput, options: DetectOptions = {}): Promise<Detection[]> {
    const prepared = await this.prepare(image);
    const { locs, scores } = await this.predict(prepared.data, 1);
    return this.postprocess(locs, scores, prepared.width, prepared.height, options);
  }

  /** Turns one image's raw outputs into detections in pixels of a `width` x `height` image. */
  postprocess(locs: Float32Array, scores: Float32Array, width: number, height: number, options: DetectOptions = {}): Detection[] {
    const suppress = (options.suppress ?? []).map((s) => {
      const i = typeof s === 'number' ? s : this.config.classNames.indexOf(s);
      if (!Number.isInteger(i) || i < 0 || i >= this.config.classNames.length) throw new Error(`detect: suppress names unknown class ${JSON.stringify(s)}`);
      return i;
    });
    this.postprocessor ??= new DetectionPostprocessor(new BoxCoder(generatePriors(this.config.priors), { variances: this.config.variances }));
    const d = this.postprocessor.run(locs, scores, { minScore: options.minScore ?? 0.2, maxOverlap: options.maxOverlap ?? 0.45, topK: options.topK ?? 200, suppress });
    const out: Detection[] = [];
    const clamp = (v: number, hi: number): number => Math.min(hi, Math.max(0, v));
    for (let i = 0; i < d.count; i++) {
      const label = d.labels[i]!;
      out.push({
        label: this.config.classNames[label]!,
        classIndex: label,
        score: d.scores[i]!,
        box: {
          xmin: clamp(d.boxes[4 * i]! * width, width),
          ymin: clamp(d.boxes[4 * i + 1]! * height, height),
          xmax: clamp(d.boxes[4 * i + 2]! * width, width),
          ymax: clamp(d.boxes[4 * i + 3]! * height, height),
        },
      });
    }
    return out;
  }

  /**
   * Decodes (EXIF orientation applied) and resizes an image to the input size (src/io/image.ts: the pixel limit is
   * checked from the header first, JPEGs shrink while decoding), then normalises it. Errors name the file and say
   * what is wrong: ImageTooLargeError above `maxPixels`, ImageDecodeError for what is not a readable image.
   */
  async prepare(image: ImageInput, options: ImageReadOptions = {}): Promise<PreparedImage> {
    const size = this.config.inputSize;
    const { data, width, height } = typeof image === 'string' || image instanceof Uint8Array ? await decodeResized(image, size, options) : { ...image, data: await resizePixels(image, size) };
    return { data: normalise(data, 3, size.width, size.height, this.config.normalization), width, height };
  }

  private session(): Promise<InferenceRunner> {
    this.runner ??= this.openSession();
    return this.runner;
  }

  /** The detection graph (batch norm on its running statistics), or the ONNX file the model runs. */
  private openSession(): Promise<InferenceRunner> {
    if (this.onnx) {
      const { width, height } = this.config.inputSize;
      return InferenceRunner.fromBytes(this.onnx.bytes, { name: this.onnx.name, inputs: [{ name: 'images', dtype: 'float32', shape: ['N', 3, height, width] }] }, this.runtime);
    }
    return InferenceRunner.create(this.network.forwardGraph(this.params).graph, this.params, this.runtime);
  }

  /** Releases the inference session (a later call opens a new one). */
  async dispose(): Promise<void> {
    const r = this.runner;
    this.runner = undefined;
    if (r) await (await r).release();
  }
}

/** The model config held as JSON in a model file's metadata (`ssd.config`, the same key in safetensors and ONNX). */
function parseConfig(text: string, name: string): ModelConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${name}: metadata '${CONFIG_KEY}' is not JSON: ${(e as Error).message}`);
  }
  return validateConfig(parsed, `${name}: model config`);
}

/** Interleaved 8-bit pixels (1 or 3+ channels) -> normalised float32 CHW planes. */
function normalise(pixels: Uint8Array, channels: number, width: number, height: number, norm: ModelConfig['normalization']): Float32Array {
  const n = width * height;
  const out = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) {
    const src = channels === 1 ? 0 : c; // grayscale kept as one channel by sharp: spread it
    const scale = 1 / (255 * norm.std[c]!);
    const shift = norm.mean[c]! / norm.std[c]!;
    const plane = out.subarray(c * n, (c + 1) * n);
    for (let i = 0; i < n; i++) plane[i] = pixels[i * channels + src]! * scale - shift;
  }
  return out;
}

/** Checks that `weights` hold every parameter of `network` with its size; returns them in parameter order. */
function checkWeights(network: SSDNetwork, weights: Weights, what: string): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const spec of network.parameters()) {
    const v = weights.get(spec.name);
    const n = spec.shape.reduce((a, b) => a * b, 1);
    if (!v) throw new Error(`${what}: parameter '${spec.name}' [${spec.shape}] is missing`);
    if (v.length !== n) throw new Error(`${what}: parameter '${spec.name}' has ${v.length} values, shape [${spec.shape}] needs ${n}`);
    out.set(spec.name, v);
  }
  const known = new Set(out.keys());
  const extra = [...weights.keys()].filter((k) => !known.has(k));
  if (extra.length) throw new Error(`${what}: unexpected tensor${extra.length > 1 ? 's' : ''} ${extra.slice(0, 5).map((k) => `'${k}'`).join(', ')}${extra.length > 5 ? ', ...' : ''} (not parameters of this network)`);
  return out;
}
