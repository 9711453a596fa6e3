// Evaluation over a dataset with an image that cannot be decoded (a truncated JPEG whose header still reads, so
// the dataset check passes it): with skipBad it is left out and named, and the result is exactly the evaluation
// of the dataset without it; without skipBad the evaluation stops naming the file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset } from '../../src/data/dataset.js';
import { generateShapesDataset } from '../../src/data/synthetic.js';
import type { Dataset } from '../../src/data/types.js';
import { SSD } from '../../src/nn/model.js';
import { evaluateModel } from '../../src/train/evaluate.js';
import { modelConfig } from '../../src/nn/models/index.js';

let dir = '';
let dataset: Dataset;
let model: SSD;
let broken = '';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssd-evaluate-'));
  const root = join(dir, 'shapes');
  await generateShapesDataset(root, { images: 6, size: [64, 80], seed: 3, splits: { train: 0, val: 0, test: 1 } });
  dataset = await loadDataset(root, { split: 'test' });
  // Cut one JPEG in half after the dataset was read (its header, all the reader looks at, survives anyway).
  broken = dataset.samples[2]!.imagePath;
  const jpeg = readFileSync(broken);
  writeFileSync(broken, jpeg.subarray(0, jpeg.length >> 1));
  model = SSD.create(modelConfig('ssd-tiny', dataset.classNames, { inputSize: 96 }), { seed: 4, threads: 1 });
});
after(async () => {
  await model?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

test('skipBad leaves an undecodable image out of the evaluation, names it, and scores the rest exactly', async () => {
  const r = await evaluateModel(model, dataset, { metric: 'voc07', batch: 4, workers: 1, skipBad: true, minScore: 0.2 });
  assert.equal(r.skipped.length, 1);
  assert.equal(r.skipped[0]!.id, dataset.samples[2]!.id);
  assert.match(r.skipped[0]!.message, new RegExp(`${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot decode image: .*premature end of JPEG`, 'i'));
  assert.equal(r.detections[2], undefined);
  // The reference: the same model on the dataset without that image.
  const rest = { ...dataset, samples: dataset.samples.filter((_, i) => i !== 2) };
  const ref = await evaluateModel(model, rest, { metric: 'voc07', batch: 4, workers: 1, minScore: 0.2 });
  assert.ok(ref.detections.reduce((n, d) => n + d!.labels.length, 0) > 0, 'the comparison has detections to compare');
  assert.deepEqual(r.evaluation.apPerClass, ref.evaluation.apPerClass);
  assert.equal(r.evaluation.map, ref.evaluation.map);
  assert.deepEqual(r.detections.filter((d) => d !== undefined), ref.detections);
});

test('without skipBad the evaluation stops with an error naming the file', async () => {
  await assert.rejects(evaluateModel(model, dataset, { metric: 'voc07', batch: 4, workers: 1 }), (e: Error) => e.message.startsWith(`${broken}: cannot decode image:`));
});
