// Where int8 loses accuracy or time, measured rather than guessed:
// - each layer's own error: the layer alone in int8 (input quantized, int8 weights, output quantized: what
//   QLinearConv computes), fed the exact float32 input, against the float32 layer, over the calibration images;
// - the error at each layer's output in the whole int8 model (what the layers before it add), and at the model's
//   outputs (box offsets, class probabilities);
// - each layer's time in ONNX Runtime's profile, float32 against int8.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeModel, encodeModel, GraphEditor } from '../../graph/onnx-edit.js';
import type { onnx } from '../../graph/onnx.js';
import { InferenceRunner, readProfile, type RuntimeOptions } from '../../graph/runtime.js';
import { imagesSignature, withOutputs, type CalibrationImages, type CalibrationProgress } from './calibrate.js';
import type { ConvLayer } from './layers.js';
import { addQdqPair, quantizedConvParameters } from './qdq-writer.js';
import type { ActivationQuant } from './quantize-math.js';

/** One layer's line of the report. */
export interface LayerReport {
  name: string;
  /** 'conv', 'depthwise' or 'pointwise' (1x1). */
  kind: 'conv' | 'depthwise' | 'pointwise';
  /** Channels and kernel, e.g. '64->128 3x3'. */
  shape: string;
  /** Whether the written model runs it in int8. */
  int8: boolean;
  /** Why it stays float32 (undefined when int8). */
  reason: string | undefined;
  /** Relative L2 error of the layer's output with the layer alone in int8 (its input exact). */
  error: number;
  /** Relative L2 error at the layer's output in the written model, the layers before it included. */
  modelError: number;
  /** Milliseconds per image in ONNX Runtime's profile, float32 and the written model (undefined when not profiled). */
  fp32Ms: number | undefined;
  int8Ms: number | undefined;
}

/** What `ssd quantize --report` prints. */
export interface QuantizeReport {
  /** Images the errors are measured on. */
  images: number;
  layers: LayerReport[];
  /** Relative L2 error of the written model's outputs: box offsets, and class probabilities (softmax). */
  outputs: { locs: number; probabilities: number };
  /** Whole-network milliseconds per image in the profile (every node, layers or not). */
  totalMs: { fp32: number; int8: number } | undefined;
}

/** The kind of a layer, as the report and the default exclusions name it. */
export function layerKind(l: ConvLayer): LayerReport['kind'] {
  return l.depthwise ? 'depthwise' : l.kernel[0] === 1 && l.kernel[1] === 1 ? 'pointwise' : 'conv';
}

/** Running sums of a relative L2 error over images (float64). */
class ErrorSum {
  private diff = 0;
  private ref = 0;

  add(got: ArrayLike<number>, want: ArrayLike<number>): void {
    if (got.length !== want.length) throw new Error(`report: ${got.length} values against ${want.length}`);
    for (let i = 0; i < want.length; i++) {
      const d = got[i]! - want[i]!;
      this.diff += d * d;
      this.ref += want[i]! * want[i]!;
    }
  }

  get value(): number {
    return this.ref > 0 ? Math.sqrt(this.diff / this.ref) : Math.sqrt(this.diff);
  }
}

/** Softmax over the last axis of (P, K) logits. */
function softmaxRows(x: Float32Array, k: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length; r += k) {
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, x[r + j]!);
    let s = 0;
    for (let j = 0; j < k; j++) s += out[r + j] = Math.exp(x[r + j]! - m);
    for (let j = 0; j < k; j++) out[r + j]! /= s;
  }
  return out;
}

/** A deep copy of a model (through its bytes). */
function copyModel(m: onnx.IModelProto): onnx.ModelProto {
  return decodeModel(encodeModel(m), 'copy');
}

/**
 * The float model with, beside each layer, the same layer in int8 reading the exact float input: outputs
 * `<layer output>` (float) and the branch's dequantized output, named in the returned map.
 */
function branchModel(floatModel: onnx.IModelProto, layers: readonly ConvLayer[], quantOf: (l: ConvLayer) => { input: ActivationQuant; output: ActivationQuant }): { model: onnx.ModelProto; branches: Map<string, string> } {
  const model = copyModel(floatModel);
  const g = new GraphEditor(model.graph!);
  const branches = new Map<string, string>();
  for (const l of layers) {
    const q = quantOf(l);
    const x = addQdqPair(g, l.input, q.input);
    const convOut = g.fresh(`${l.name}#int8.conv`);
    g.addNode({ ...l.conv, name: g.fresh(`${l.name}#int8/Conv`), input: [x, ...quantizedConvParameters(g, l, q.input)], output: [convOut] });
    let y = convOut;
    if (l.activationNode) {
      y = g.fresh(`${l.name}#int8.act`);
      g.addNode({ ...l.activationNode, name: g.fresh(`${l.name}#int8/${l.activationNode.opType}`), input: [convOut, ...(l.activationNode.input ?? []).slice(1)], output: [y] });
    }
    branches.set(l.name, addQdqPair(g, y, q.output));
  }
  g.finish();
  return { model, branches };
}

/** Options of the error measurements. */
export interface MeasureErrorsOptions {
  inputSize: { width: number; height: number };
  runtime?: RuntimeOptions;
  onProgress?: CalibrationProgress;
}

/** The feed of one image. */
function imageFeed(data: Float32Array, inputSize: { width: number; height: number }) {
  return { images: { data, dims: [1, 3, inputSize.height, inputSize.width], dtype: 'float32' as const } };
}

/** Each layer's own error over `images`: the layer alone in int8, fed the exact float input, against the float layer. */
export async function measureLayerErrors(
  floatModel: onnx.IModelProto,
  layers: readonly ConvLayer[],
  quantOf: (l: ConvLayer) => { input: ActivationQuant; output: ActivationQuant },
  images: CalibrationImages,
  options: MeasureErrorsOptions,
): Promise<Map<string, number>> {
  const { model: branched, branches } = branchModel(floatModel, layers, quantOf);
  const { width, height } = options.inputSize;
  const runner = await InferenceRunner.fromBytes(withOutputs(branched, [...layers.map((l) => l.output), ...branches.values()]), imagesSignature('layer-errors', width, height), options.runtime ?? {});
  const own = new Map(layers.map((l) => [l.name, new ErrorSum()]));
  try {
    for (let i = 0; i < images.count; i++) {
      const out = await runner.run(imageFeed(await images.get(i), options.inputSize));
      for (const l of layers) own.get(l.name)!.add(out[branches.get(l.name)!]!.data as Float32Array, out[l.output]!.data as Float32Array);
      options.onProgress?.('measuring each layer in int8', i + 1, images.count);
    }
  } finally {
    await runner.release();
  }
  return new Map([...own].map(([k, v]) => [k, v.value]));
}

/**
 * The int8 model's error over `images` against the float model: at each layer's output (`seen`: the tensor of the
 * int8 model that the layer's readers see) and at the outputs (box offsets; class probabilities after softmax).
 */
export async function measureModelErrors(
  floatModel: onnx.IModelProto,
  int8Model: onnx.IModelProto,
  layers: readonly ConvLayer[],
  seen: ReadonlyMap<string, string>,
  images: CalibrationImages,
  options: MeasureErrorsOptions & { nClasses: number },
): Promise<{ model: Map<string, number>; outputs: QuantizeReport['outputs'] }> {
  const { width, height } = options.inputSize;
  const sig = imagesSignature('model-errors', width, height);
  const reference = await InferenceRunner.fromBytes(withOutputs(floatModel, layers.map((l) => l.output)), sig, options.runtime ?? {});
  const quantized = await InferenceRunner.fromBytes(withOutputs(int8Model, layers.map((l) => seen.get(l.name)!)), sig, options.runtime ?? {});
  const inModel = new Map(layers.map((l) => [l.name, new ErrorSum()]));
  const locs = new ErrorSum();
  const probabilities = new ErrorSum();
  try {
    for (let i = 0; i < images.count; i++) {
      const feed = imageFeed(await images.get(i), options.inputSize);
      const ref = await reference.run(feed);
      const got = await quantized.run(feed);
      for (const l of layers) inModel.get(l.name)!.add(got[seen.get(l.name)!]!.data as Float32Array, ref[l.output]!.data as Float32Array);
      locs.add(got.locs!.data as Float32Array, ref.locs!.data as Float32Array);
      probabilities.add(softmaxRows(got.scores!.data as Float32Array, options.nClasses), softmaxRows(ref.scores!.data as Float32Array, options.nClasses));
      options.onProgress?.('measuring the int8 model', i + 1, images.count);
    }
  } finally {
    await reference.release();
    await quantized.release();
  }
  return { model: new Map([...inModel].map(([k, v]) => [k, v.value])), outputs: { locs: locs.value, probabilities: probabilities.value } };
}

/**
 * Milliseconds per image of each layer and of the whole network, from ONNX Runtime's profile of `runs` runs
 * after `warmup` (the profile's nodes are named after the layer's Conv node or its output tensor; nodes that are
 * no layer's count in the total only).
 */
export async function profileLayers(bytes: Uint8Array, layers: readonly ConvLayer[], image: Float32Array, options: { inputSize: { width: number; height: number }; runtime?: RuntimeOptions; runs?: number; warmup?: number }): Promise<{ layers: Map<string, number>; total: number }> {
  const { width, height } = options.inputSize;
  const runs = options.runs ?? 5;
  const warmup = options.warmup ?? 2;
  const dir = mkdtempSync(join(tmpdir(), 'ssd-int8-profile-'));
  try {
    const runner = await InferenceRunner.fromBytes(bytes, imagesSignature('profile', width, height), { ...options.runtime, profileFilePrefix: join(dir, 'p') });
    const feed = { images: { data: image, dims: [1, 3, height, width], dtype: 'float32' as const } };
    try {
      for (let i = 0; i < warmup + runs; i++) await runner.run(feed);
      runner.endProfiling();
    } finally {
      await runner.release();
    }
    const { events } = readProfile(dir);
    const starts = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').map((e) => e.ts).sort((a, b) => a - b);
    const from = starts[warmup] ?? 0;
    // Longest prefix first: 'conv1_1' must not take the events of 'conv1_10'.
    const keys = layers.flatMap((l) => [l.conv.name ?? '', l.conv.output![0]!, l.output].filter(Boolean).map((k) => [k, l.name] as const)).sort((a, b) => b[0].length - a[0].length);
    const perLayer = new Map<string, number>(layers.map((l) => [l.name, 0]));
    let total = 0;
    for (const e of events) {
      if (e.cat !== 'Node' || e.ts < from || !e.name.endsWith('_kernel_time')) continue;
      total += e.dur;
      const hit = keys.find(([k]) => e.name.startsWith(`${k}_`));
      if (hit) perLayer.set(hit[1], perLayer.get(hit[1])! + e.dur);
    }
    const ms = (us: number) => us / 1000 / runs;
    return { layers: new Map([...perLayer].map(([k, v]) => [k, ms(v)])), total: ms(total) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
