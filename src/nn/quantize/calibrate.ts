// Calibration: real images through the float32 network (batch norm folded), with the tensors int8 will quantize
// made graph outputs, so that each tensor's observer sees its values on every image. One pass finds the extremes;
// the histogram methods take a second pass over the same images to fill histograms over those extremes.
import { encodeModel, TensorType } from '../../graph/onnx-edit.js';
import type { onnx } from '../../graph/onnx.js';
import { InferenceRunner, type RuntimeOptions } from '../../graph/runtime.js';
import { TensorObserver, type RangeMethod } from './observers.js';

/** Calibration images, prepared as the model prepares them: (3, H, W) float32, normalised. */
export interface CalibrationImages {
  readonly count: number;
  /** The i-th image (0 <= i < count); may decode it again each time it is asked. */
  get(i: number): Promise<Float32Array>;
}

/** A calibration phase and how far it is: what progress bars show. */
export type CalibrationProgress = (phase: string, done: number, total: number) => void;

/** The bytes of `model` with `tensors` declared as extra float outputs (for calibration and error reports). */
export function withOutputs(model: onnx.IModelProto, tensors: Iterable<string>): Uint8Array {
  const graph = model.graph!;
  const saved = graph.output ?? [];
  const outputs = saved.slice();
  const have = new Set(outputs.map((o) => o.name));
  for (const t of tensors) {
    if (have.has(t)) continue;
    have.add(t);
    outputs.push({ name: t, type: { tensorType: { elemType: TensorType.FLOAT } } });
  }
  graph.output = outputs;
  try {
    return encodeModel(model);
  } finally {
    graph.output = saved;
  }
}

/** The input signature of an SSD graph (one input, 'images', float32 (N, 3, H, W)). */
export function imagesSignature(name: string, width: number, height: number): { name: string; inputs: Array<{ name: string; dtype: 'float32'; shape: Array<number | string> }> } {
  return { name, inputs: [{ name: 'images', dtype: 'float32', shape: ['N', 3, height, width] }] };
}

/** Options of {@link calibrate}. */
export interface CalibrateOptions {
  method: RangeMethod;
  inputSize: { width: number; height: number };
  runtime?: RuntimeOptions;
  onProgress?: CalibrationProgress;
}

/**
 * Observes `tensors` of the float model `model` on every calibration image: extremes, and for 'percentile' and
 * 'entropy' a second pass of histograms. Returns an observer per tensor.
 */
export async function calibrate(model: onnx.IModelProto, tensors: readonly string[], images: CalibrationImages, options: CalibrateOptions): Promise<Map<string, TensorObserver>> {
  if (images.count < 1) throw new Error('calibration needs at least one image');
  const bytes = withOutputs(model, tensors);
  const { width, height } = options.inputSize;
  const runner = await InferenceRunner.fromBytes(bytes, imagesSignature('calibration', width, height), options.runtime ?? {});
  const observers = new Map(tensors.map((t) => [t, new TensorObserver()]));
  const passes: Array<[string, (o: TensorObserver, x: Float32Array) => void]> = [['calibrating ranges', (o, x) => o.observeRange(x)]];
  if (options.method !== 'minmax') passes.push([`calibrating ${options.method} histograms`, (o, x) => o.observeHistogram(x)]);
  try {
    for (const [phase, observe] of passes) {
      for (let i = 0; i < images.count; i++) {
        const data = await images.get(i);
        const out = await runner.run({ images: { data, dims: [1, 3, height, width], dtype: 'float32' } });
        for (const [t, o] of observers) {
          const v = out[t];
          if (!v) throw new Error(`calibration: the network gave no tensor '${t}'`);
          observe(o, v.data as Float32Array);
        }
        options.onProgress?.(phase, i + 1, images.count);
      }
    }
  } finally {
    await runner.release();
  }
  return observers;
}
