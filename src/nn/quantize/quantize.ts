// Post-training static quantization of an SSD to int8: the float32 network exported to ONNX, batch norm folded
// into the convolutions, activation ranges calibrated on real images, then the QDQ model written, with the
// model config in its metadata so that `SSD.load` runs it like any model file. Every convolution is int8 unless
// the caller names it (`exclude`) or, with `autoExclude`, its own int8 error is above `maxLayerError`: measured
// on the 2-core development machine, no kind of layer was faster or notably more accurate left in float32
// (docs/int8.md). Post-processing, SSD300's L2 normalisation and the head's layout stay float32 by design.
import { decodeModel, encodeModel, GraphEditor } from '../../graph/onnx-edit.js';
import type { onnx } from '../../graph/onnx.js';
import { exportOnnx, ONNX_CONFIG_KEY, ONNX_OUTPUTS_KEY, ONNX_PRECISION_KEY, type ExportableModel } from '../export.js';
import { calibrate, type CalibrationImages, type CalibrationProgress } from './calibrate.js';
import { foldBatchNorm } from './fold-batch-norm.js';
import { convLayers, predictionLayers, type ConvLayer } from './layers.js';
import { RANGE_METHODS, type RangeMethod } from './observers.js';
import { quantizedTensors, writeQdq } from './qdq-writer.js';
import { activationQuant, type ActivationQuant } from './quantize-math.js';
import { layerKind, measureLayerErrors, measureModelErrors, profileLayers, type LayerReport, type QuantizeReport } from './report.js';

/** The metadata key of an int8 model holding how it was quantized (JSON). */
export const QUANTIZATION_KEY = 'ssd.quantization';

/** The range method used when none is given. */
export const DEFAULT_METHOD: RangeMethod = 'percentile';
/** The percentile of |x| kept by the 'percentile' method. */
export const DEFAULT_PERCENTILE = 99.999;
/** Own int8 error (relative L2 of the layer's output) above which `autoExclude` leaves a layer in float32. */
export const DEFAULT_MAX_LAYER_ERROR = 0.05;

/** Options of {@link quantizeModel}. */
export interface QuantizeOptions {
  /** How activation ranges are chosen. Default 'percentile'. */
  method?: RangeMethod;
  /** The 'percentile' method's percentile of |x|. Default 99.999. */
  percentile?: number;
  /**
   * Layers to leave in float32: names or patterns (`*` any characters, `?` one), or `kind:depthwise`,
   * `kind:pointwise`, `kind:conv` for every layer of that kind. A pattern that matches no layer is an error.
   */
  exclude?: readonly string[];
  /** Measure each layer's error and time, and the model's output error (QuantizeResult.report). Default false. */
  report?: boolean;
  /** Leave in float32 every layer whose own int8 error is above `maxLayerError`. Default false. */
  autoExclude?: boolean;
  /** Default DEFAULT_MAX_LAYER_ERROR. */
  maxLayerError?: number;
  /** ONNX Runtime threads for calibration and the report. Default: all cores. */
  threads?: number;
  onProgress?: CalibrationProgress;
}

/** A layer of the quantized model. */
export interface QuantizedLayer {
  name: string;
  kind: LayerReport['kind'];
  shape: string;
  int8: boolean;
  /** Why it stays float32 (undefined for int8 layers). */
  reason: string | undefined;
}

/** What {@link quantizeModel} made. */
export interface QuantizeResult {
  /** The int8 model file (ONNX, QDQ form, config in the metadata). */
  bytes: Uint8Array;
  layers: QuantizedLayer[];
  method: RangeMethod;
  /** Calibration images used. */
  images: number;
  report: QuantizeReport | undefined;
}

/** A glob (`*`, `?`) as a whole-string regular expression. */
function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

/** `64->128 3x3`, `576 dw 3x3`. */
function layerShape(l: ConvLayer): string {
  return l.depthwise ? `${l.outChannels} dw ${l.kernel[0]}x${l.kernel[1]}` : `${l.inChannels}->${l.outChannels} ${l.kernel[0]}x${l.kernel[1]}`;
}

/** The float32 network of `model` as an ONNX graph with batch norm folded, and its layers. */
function foldedNetwork(model: ExportableModel): { proto: onnx.ModelProto; layers: ConvLayer[]; predictions: Set<string> } {
  const proto = decodeModel(exportOnnx(model), 'quantize');
  const g = new GraphEditor(proto.graph!);
  foldBatchNorm(g);
  g.finish();
  const layers = convLayers(g);
  return { proto, layers, predictions: predictionLayers(g, layers) };
}

/** The layers of `model` that int8 can run: name, kind and shape (what `--exclude` names). */
export function quantizableLayers(model: ExportableModel): Array<Pick<QuantizedLayer, 'name' | 'kind' | 'shape'>> {
  return foldedNetwork(model).layers.map((l) => ({ name: l.name, kind: layerKind(l), shape: layerShape(l) }));
}

/** Whether a pattern of `exclude` names a layer: `kind:<kind>`, or its name as a glob (`*`, `?`). */
function patternMatcher(pattern: string): (l: ConvLayer) => boolean {
  if (pattern.startsWith('kind:')) {
    const kind = pattern.slice(5);
    if (!['conv', 'depthwise', 'pointwise'].includes(kind)) throw new Error(`quantize: '${pattern}' names no kind of layer; kinds: conv, depthwise, pointwise`);
    return (l) => layerKind(l) === kind;
  }
  const re = globToRegExp(pattern);
  return (l) => re.test(l.name);
}

/** Layers left in float32 by the caller's patterns, with the reason; a pattern that matches nothing throws. */
function excludedLayers(layers: readonly ConvLayer[], patterns: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const unknown: string[] = [];
  for (const pattern of patterns) {
    const hit = layers.filter(patternMatcher(pattern));
    if (hit.length === 0) unknown.push(pattern);
    for (const l of hit) if (!out.has(l.name)) out.set(l.name, `excluded ('${pattern}')`);
  }
  if (unknown.length) {
    const names = layers.map((l) => l.name);
    const shown = names.length > 12 ? `${names.slice(0, 12).join(', ')}, ... (${names.length} in all)` : names.join(', ');
    throw new Error(`quantize: no layer is named ${unknown.map((u) => `'${u}'`).join(', ')}; the model's layers: ${shown} (ssd quantize --list-layers lists them; patterns take * and ?, or kind:depthwise, kind:pointwise, kind:conv)`);
  }
  return out;
}

/**
 * Quantizes `model` (float32 weights) to int8 with `images` for calibration (prepared as the model prepares
 * them). Throws for a model that already runs an ONNX file, for unknown layer names in `exclude`.
 */
export async function quantizeModel(model: ExportableModel, images: CalibrationImages, options: QuantizeOptions = {}): Promise<QuantizeResult> {
  if (model.onnx) throw new Error('quantize: the model is an ONNX model already (it has no float32 weights to quantize); quantize the .safetensors model file it was made from');
  const method = options.method ?? DEFAULT_METHOD;
  if (!RANGE_METHODS.includes(method)) throw new Error(`quantize: method '${method}' is not one of ${RANGE_METHODS.join(', ')}`);
  const percentile = options.percentile ?? DEFAULT_PERCENTILE;
  const maxLayerError = options.maxLayerError ?? DEFAULT_MAX_LAYER_ERROR;
  if (!(maxLayerError > 0)) throw new Error(`quantize: maxLayerError must be > 0, got ${maxLayerError}`);
  if (images.count < 1) throw new Error('quantize: calibration needs at least one image');
  const { proto: folded, layers, predictions } = foldedNetwork(model);
  if (layers.length === 0) throw new Error(`quantize: the ${model.config.architecture} network has no convolution int8 can run`);
  const excluded = excludedLayers(layers, options.exclude ?? []);
  const runtime = options.threads === undefined ? {} : { threads: options.threads };
  const inputSize = model.config.inputSize;

  const tensors = [...new Set(layers.flatMap((l) => [l.input, l.output]))];
  const observers = await calibrate(folded, tensors, images, { method, inputSize, runtime, onProgress: options.onProgress });
  const relu6 = new Set(layers.filter((l) => l.activation === 'relu6').map((l) => l.output));
  // The head's predictions keep the whole range seen whatever the method: their extremes are the detections.
  const fullRange = new Set(layers.filter((l) => predictions.has(l.name)).map((l) => l.output));
  const calibrated = new Map<string, ActivationQuant>();
  for (const [t, o] of observers) {
    const [lo, hi] = o.range(fullRange.has(t) ? 'minmax' : method, percentile);
    calibrated.set(t, activationQuant(lo, hi, relu6.has(t) ? 6 : Infinity));
  }

  // Each layer's own error, measured as if every layer were int8 (the quantization a layer would see then).
  let own: Map<string, number> | undefined;
  if (options.report || options.autoExclude) {
    const all = quantizedTensors(new GraphEditor(folded.graph!), { layers, activations: calibrated });
    own = await measureLayerErrors(folded, layers, (l) => ({ input: all.get(l.input)!, output: all.get(l.output)! }), images, { inputSize, runtime, onProgress: options.onProgress });
    if (options.autoExclude) {
      for (const l of layers) {
        const e = own.get(l.name)!;
        if (!excluded.has(l.name) && e > maxLayerError) excluded.set(l.name, `auto-exclude: its own int8 error ${e.toFixed(4)} is above ${maxLayerError}`);
      }
    }
  }

  const int8Model = decodeModel(encodeModel(folded), 'quantize');
  const g = new GraphEditor(int8Model.graph!);
  const chosen = convLayers(g).filter((l) => !excluded.has(l.name));
  const written = writeQdq(g, { layers: chosen, activations: calibrated });
  g.finish();
  int8Model.graph!.name = `ssd-ts ${model.config.architecture} int8`;
  const summary: QuantizedLayer[] = layers.map((l) => ({ name: l.name, kind: layerKind(l), shape: layerShape(l), int8: !excluded.has(l.name), reason: excluded.get(l.name) }));
  int8Model.metadataProps = [
    { key: ONNX_CONFIG_KEY, value: JSON.stringify(model.config) },
    { key: ONNX_OUTPUTS_KEY, value: 'raw' },
    { key: ONNX_PRECISION_KEY, value: 'int8' },
    {
      key: QUANTIZATION_KEY,
      value: JSON.stringify({
        method,
        ...(method === 'percentile' ? { percentile } : {}),
        images: images.count,
        weights: 'int8 symmetric per output channel',
        activations: 'uint8 per tensor',
        float32_layers: summary.filter((l) => !l.int8).map((l) => ({ name: l.name, reason: l.reason })),
      }),
    },
  ];
  int8Model.docString = 'SSD network, int8 (QDQ): images (N,3,H,W) normalised -> locs (N,P,4) offsets from the priors, scores (N,P,K) logits';
  const bytes = encodeModel(int8Model);

  let report: QuantizeReport | undefined;
  if (options.report) {
    // What each layer's readers see in the written model: the dequantized tensor where it has a Q/DQ pair.
    const seen = new Map(layers.map((l) => [l.name, written.dequantized.get(l.output) ?? l.output]));
    const errors = await measureModelErrors(folded, int8Model, layers, seen, images, { inputSize, nClasses: model.config.classNames.length, runtime, onProgress: options.onProgress });
    const first = await images.get(0);
    const fp32 = await profileLayers(exportOnnx(model), layers, first, { inputSize, runtime });
    options.onProgress?.('profiling float32 and int8', 1, 2);
    const int8 = await profileLayers(bytes, layers, first, { inputSize, runtime });
    options.onProgress?.('profiling float32 and int8', 2, 2);
    report = {
      images: images.count,
      layers: summary.map((l) => ({ ...l, error: own!.get(l.name)!, modelError: errors.model.get(l.name)!, fp32Ms: fp32.layers.get(l.name), int8Ms: int8.layers.get(l.name) })),
      outputs: errors.outputs,
      totalMs: { fp32: fp32.total, int8: int8.total },
    };
  }
  return { bytes, layers: summary, method, images: images.count, report };
}
