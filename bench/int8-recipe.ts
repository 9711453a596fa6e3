// SSD300 in int8 on the reference recipe (test/fixtures/reference: the PyTorch tutorial's network with weights any
// language rebuilds exactly, and its recipe image): how far the int8 model's decoded boxes and class probabilities
// are from float32's. Calibration: 8 other recipe images of the same kind (never the two measured). Prints JSON.
// Usage: node --import tsx bench/int8-recipe.ts [--method percentile] [--threads 2]
import { parseArgs } from 'node:util';
import { BoxCoder } from '../src/boxes/coder.js';
import { generatePriors } from '../src/boxes/priors.js';
import { SSD } from '../src/nn/model.js';
import { modelConfig } from '../src/nn/models/index.js';
import { quantizeModel, type RangeMethod } from '../src/nn/quantize/index.js';
import { refF32 } from '../test/fixtures/reference.js';
import { recipeImage, recipeTensor, recipeWeights } from '../test/nn/recipe.js';

const { values } = parseArgs({ options: { method: { type: 'string' }, threads: { type: 'string' } }, strict: true });
const threads = Number(values.threads ?? 2);
const model = SSD.create(modelConfig('ssd300'), { weights: recipeWeights(), threads });
const n = 3 * 300 * 300;
const calibration = Array.from({ length: 8 }, (_, i) => recipeTensor(`int8-calibration-${i}`, n, 1));
const t0 = performance.now();
const q = await quantizeModel(model, { count: calibration.length, get: async (i) => calibration[i]! }, { method: (values.method ?? 'percentile') as RangeMethod, threads, report: true });
const quantizeSeconds = (performance.now() - t0) / 1000;
const int8 = SSD.fromBytes(q.bytes, { name: 'ssd300.int8.onnx', threads });
const coder = new BoxCoder(generatePriors(model.config.priors), { variances: model.config.variances });

const rel = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let d = 0, s = 0;
  for (let i = 0; i < b.length; i++) {
    d += (a[i]! - b[i]!) ** 2;
    s += b[i]! ** 2;
  }
  return Math.sqrt(d / s);
};
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};
const softmax = (x: Float32Array, k: number): Float32Array => {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length; r += k) {
    let m = -Infinity, s = 0;
    for (let j = 0; j < k; j++) m = Math.max(m, x[r + j]!);
    for (let j = 0; j < k; j++) s += out[r + j] = Math.exp(x[r + j]! - m);
    for (let j = 0; j < k; j++) out[r + j]! /= s;
  }
  return out;
};

const image = recipeImage().data;
const reference = refF32('forward_scores').data;
const images = [];
for (let b = 0; b < 2; b++) {
  const x = image.subarray(b * n, (b + 1) * n);
  const f = await model.predict(x, 1);
  const i8 = await int8.predict(x, 1);
  const [boxesF, boxesI] = [coder.decode(f.locs), coder.decode(i8.locs)];
  const [probF, probI] = [softmax(f.scores, 21), softmax(i8.scores, 21)];
  images.push({
    image: b,
    fp32_against_pytorch_reference_scores: rel(f.scores, reference.subarray(b * 8732 * 21, (b + 1) * 8732 * 21)),
    decoded_boxes_relative_l2: rel(boxesI, boxesF),
    decoded_boxes_max_abs: maxAbs(boxesI, boxesF),
    class_probabilities_relative_l2: rel(probI, probF),
    class_probabilities_max_abs: maxAbs(probI, probF),
    locs_relative_l2: rel(i8.locs, f.locs),
    logits_relative_l2: rel(i8.scores, f.scores),
  });
}
console.log(JSON.stringify({ model: 'ssd300 (reference recipe weights)', method: q.method, calibration_images: calibration.length, quantize_seconds: quantizeSeconds, int8_layers: q.layers.filter((l) => l.int8).length, float32_layers: q.layers.filter((l) => !l.int8).map((l) => l.name), images, report: q.report }, null, 2));
await model.dispose();
await int8.dispose();
