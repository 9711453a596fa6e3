// Do a float32 model and its int8 file detect the same objects? Both run on a dataset split (ssd detect's path:
// prepare, network, post-processing); a float32 detection is matched by an int8 one of the same class at IoU
// >= 0.5 (greedy, by score). Prints JSON: detections of each, the share matched both ways, the mean IoU and
// score difference of the matches, per image and overall.
// Usage: node --import tsx bench/int8-agreement.ts --fp32 m.safetensors --int8 m.int8.onnx --data <dataset> [--split test] [--min-score 0.3] [--images N]
import { parseArgs } from 'node:util';
import { loadDataset } from '../src/data/dataset.js';
import { SSD, type Detection } from '../src/nn/model.js';

const { values } = parseArgs({ options: { fp32: { type: 'string' }, int8: { type: 'string' }, data: { type: 'string' }, split: { type: 'string' }, 'min-score': { type: 'string' }, images: { type: 'string' }, threads: { type: 'string' } }, strict: true });
if (!values.fp32 || !values.int8 || !values.data) throw new Error('usage: int8-agreement.ts --fp32 <model file> --int8 <model file> --data <dataset> [--split test] [--min-score 0.3]');
const minScore = Number(values['min-score'] ?? 0.3);
const threads = values.threads === undefined ? {} : { threads: Number(values.threads) };
const dataset = await loadDataset(values.data, { split: values.split ?? 'test' });
const samples = dataset.samples.slice(0, values.images === undefined ? undefined : Number(values.images));
const [fp32, int8] = [await SSD.load(values.fp32, threads), await SSD.load(values.int8, threads)];

function iou(a: Detection['box'], b: Detection['box']): number {
  const w = Math.max(0, Math.min(a.xmax, b.xmax) - Math.max(a.xmin, b.xmin));
  const h = Math.max(0, Math.min(a.ymax, b.ymax) - Math.max(a.ymin, b.ymin));
  const inter = w * h;
  return inter / ((a.xmax - a.xmin) * (a.ymax - a.ymin) + (b.xmax - b.xmin) * (b.ymax - b.ymin) - inter);
}

let nF = 0, nI = 0, matched = 0, iouSum = 0, scoreDiff = 0, identicalImages = 0;
for (const s of samples) {
  const [f, q] = [await fp32.detect(s.imagePath, { minScore }), await int8.detect(s.imagePath, { minScore })];
  nF += f.length;
  nI += q.length;
  const used = new Uint8Array(q.length);
  let here = 0;
  for (const d of f) {
    let best = -1, bestIou = 0.5;
    q.forEach((e, j) => {
      if (used[j] || e.classIndex !== d.classIndex) return;
      const v = iou(d.box, e.box);
      if (v >= bestIou) [best, bestIou] = [j, v];
    });
    if (best < 0) continue;
    used[best] = 1;
    here++;
    iouSum += bestIou;
    scoreDiff += Math.abs(q[best]!.score - d.score);
  }
  matched += here;
  if (here === f.length && here === q.length) identicalImages++;
}
console.log(
  JSON.stringify({
    fp32: values.fp32,
    int8: values.int8,
    images: samples.length,
    min_score: minScore,
    fp32_detections: nF,
    int8_detections: nI,
    matched,
    fp32_matched_share: matched / Math.max(1, nF),
    int8_matched_share: matched / Math.max(1, nI),
    mean_iou_of_matches: iouSum / Math.max(1, matched),
    mean_abs_score_difference: scoreDiff / Math.max(1, matched),
    images_with_the_same_detections: identicalImages,
  }),
);
await fp32.dispose();
await int8.dispose();
