// `ssd quantize` as a library call: a model file and a dataset in, an int8 model file out. The checks that make
// bad input a clear error before any time is spent: a model that is ONNX already, a dataset split without
// images, an output that would overwrite the input or an existing file.
import { existsSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { loadDataset } from '../../data/dataset.js';
import { writeFileAtomic } from '../../io/atomic-write.js';
import { exportOnnx } from '../export.js';
import { SSD } from '../model.js';
import { calibrationImages, pickCalibrationFiles } from './images.js';
import { quantizeModel, type QuantizeOptions, type QuantizeResult } from './quantize.js';

/** Options of {@link quantizeModelFile}. */
export interface QuantizeFileOptions extends QuantizeOptions {
  /** The float32 model file (.safetensors). */
  weights: string;
  /** The dataset (VOC root, COCO JSON, YOLO data.yaml; several VOC roots joined). */
  data: string | string[];
  /** Its split to calibrate on. Default 'train'. */
  split?: string;
  /** Calibration images, spread evenly over the split. Default 200. */
  images?: number;
  /** The int8 model file. Default `<weights without extension>.int8.onnx`. */
  out?: string;
  /** Replace `out` when it exists. Default false: an existing file is an error. */
  force?: boolean;
  /** Largest calibration image decoded, in pixels. Default the image reader's (40 megapixels). */
  maxPixels?: number;
}

/** What {@link quantizeModelFile} wrote. */
export interface QuantizeFileResult extends QuantizeResult {
  out: string;
  /** Bytes of the float32 model exported as ONNX (raw outputs), for the size ratio. */
  fp32OnnxBytes: number;
  /** The dataset split's images, of which `images` calibrated. */
  datasetImages: number;
}

/** The default output file of a model file: `model.safetensors` -> `model.int8.onnx`. */
export function defaultInt8File(weights: string): string {
  return join(dirname(weights), `${basename(weights, extname(weights))}.int8.onnx`);
}

/** Quantizes a model file with images of a dataset split and writes the int8 model file atomically. */
export async function quantizeModelFile(options: QuantizeFileOptions): Promise<QuantizeFileResult> {
  const out = options.out ?? defaultInt8File(options.weights);
  if (resolve(out) === resolve(options.weights)) throw new Error(`quantize: the output ${out} is the model file itself; give another --out`);
  if (!options.force && existsSync(out)) throw new Error(`quantize: ${out} exists; give another --out, or --force to replace it`);
  const model = await SSD.load(options.weights, options.threads === undefined ? {} : { threads: options.threads });
  try {
    if (model.onnx) {
      const what = model.onnx.precision === 'int8' ? 'an int8 ONNX model already (it is quantized)' : 'an ONNX model (it has no float32 weights to quantize)';
      throw new Error(`quantize: ${options.weights} is ${what}; quantize the .safetensors model file it was made from`);
    }
    const split = options.split ?? 'train';
    const dataset = await loadDataset(options.data, { split });
    const where = `${Array.isArray(options.data) ? options.data.join(' + ') : options.data}${dataset.format === 'coco' ? '' : ` (split '${split}')`}`;
    if (dataset.samples.length === 0) throw new Error(`quantize: ${where} has no images; calibration runs images of the data the model will see through it`);
    const files = pickCalibrationFiles(dataset.samples.map((s) => s.imagePath), options.images ?? 200);
    const result = await quantizeModel(model, calibrationImages(model, files, options.maxPixels === undefined ? {} : { maxPixels: options.maxPixels }), options);
    writeFileAtomic(out, result.bytes);
    return { ...result, out, fp32OnnxBytes: exportOnnx(model).byteLength, datasetImages: dataset.samples.length };
  } finally {
    await model.dispose();
  }
}
