// COCO results files named with the dataset's own ids: read for `ssd eval --detections`, written by `ssd eval
// --results` and `ssd detect --coco --data`; a round trip through a file scores what the detections score directly,
// and `ssd detect`'s naming of pycocotools' fixture detections scores what pycocotools computed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset } from '../../src/data/dataset.js';
import type { CocoEvaluation } from '../../src/eval/types.js';
import { cocoResultsOf, detectionsToCocoResults, readCocoResults, resultsNaming, type DetectedImage } from '../../src/train/coco-results.js';
import { evaluateResults, evaluationJson } from '../../src/train/evaluate.js';
import { loadFixtureDataset, readFixtureSet, statsOf } from '../fixtures/coco-sets.js';
import { fixture } from '../data/helpers.js';

const scratch = mkdtempSync(join(tmpdir(), 'ssd-coco-results-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function writeJson(name: string, value: unknown): string {
  const file = join(scratch, name);
  writeFileSync(file, JSON.stringify(value));
  return file;
}

const maxDiff = (a: readonly number[], b: readonly number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));

test('naming: COCO image ids as numbers and its category ids; VOC file stems as strings and class indices', async () => {
  const coco = await loadDataset(fixture('coco', 'annotations', 'instances_val.json'));
  assert.deepEqual(resultsNaming(coco), { imageIds: [42, 7, 9], categoryIds: [1, 3, 18] });
  const voc = await loadDataset(fixture('voc'), { split: 'trainval' });
  const naming = resultsNaming(voc);
  assert.deepEqual(naming.imageIds, voc.samples.map((s) => s.id));
  assert.ok(naming.imageIds.every((id) => typeof id === 'string' && /^\d{6}$/.test(id)), 'VOC stems keep their zeros');
  assert.deepEqual(naming.categoryIds, voc.classNames.map((_, i) => i + 1));
});

test('readCocoResults: sparse category ids map to their classes; bad entries are named by index and field', async () => {
  const set = readFixtureSet('sparse-ids');
  const dataset = await loadFixtureDataset(set, scratch);
  assert.deepEqual(dataset.categoryIds, [1, 3, 18, 44, 90]);
  const read = readCocoResults(set.resultsFile, dataset);
  const first = set.results[0]!;
  const i = dataset.samples.findIndex((s) => s.id === String(first.image_id));
  const k = set.results.filter((r) => r.image_id === first.image_id).indexOf(first);
  assert.equal(read[i]!.labels[k], dataset.categoryIds!.indexOf(first.category_id) + 1);
  assert.deepEqual(Array.from(read[i]!.boxes.subarray(4 * k, 4 * k + 4)), [first.bbox[0], first.bbox[1], first.bbox[0]! + first.bbox[2]!, first.bbox[1]! + first.bbox[3]!]);
  assert.equal(read[i]!.scores[k], first.score, 'scores keep double precision');

  const entry = { image_id: first.image_id, category_id: 3, bbox: [1, 2, 3, 4], score: 0.5 };
  const bad = (patch: Record<string, unknown>) => writeJson('bad.json', [entry, { ...entry, ...patch }]);
  assert.throws(() => readCocoResults(bad({ category_id: 2 }), dataset), /bad\.json: \[1\]\.category_id must be a category id of the dataset \(1, 3, 18, \.\.\. of 5\), got 2/);
  assert.throws(() => readCocoResults(bad({ image_id: 12345678 }), dataset), /\[1\]\.image_id 12345678 is not an image of the dataset/);
  assert.throws(() => readCocoResults(bad({ bbox: [1, 2, -3, 4] }), dataset), /\[1\]\.bbox has a negative width or height/);
  assert.throws(() => readCocoResults(bad({ score: 'high' }), dataset), /\[1\]\.score must be a finite number, got "high"/);
  assert.throws(() => readCocoResults(writeJson('object.json', { annotations: [] }), dataset), /object\.json: detections must be a JSON array/);
  assert.throws(() => readCocoResults(join(scratch, 'missing.json'), dataset), /missing\.json: cannot read detections/);
});

test('readCocoResults on VOC: image ids are the stems; a number that lost its zeros gets a hint', async () => {
  const voc = await loadDataset(fixture('voc'), { split: 'trainval' });
  const stem = voc.samples[0]!.id;
  const good = writeJson('voc.json', [{ image_id: stem, category_id: 1, bbox: [1, 1, 4, 4], score: 0.9 }]);
  assert.equal(readCocoResults(good, voc)[0]!.labels.length, 1);
  const bad = writeJson('voc-number.json', [{ image_id: Number(stem), category_id: 1, bbox: [1, 1, 4, 4], score: 0.9 }]);
  assert.throws(() => readCocoResults(bad, voc), new RegExp(`image_id ${Number(stem)} is not an image .*did you mean the string "${stem}"\\? A number loses the leading zeros`));
});

test('round trip: detections -> results file -> readCocoResults -> evaluateResults scores what they score directly', async () => {
  const set = readFixtureSet('crowd');
  const dataset = await loadFixtureDataset(set, scratch);
  const detections = readCocoResults(set.resultsFile, dataset);
  const direct = evaluateResults(detections, dataset, 'coco') as CocoEvaluation;
  const written = cocoResultsOf(detections, dataset);
  assert.equal(written.length, set.results.length);
  const file = writeJson('round-trip.json', written);
  const again = evaluateResults(readCocoResults(file, dataset), dataset, 'coco') as CocoEvaluation;
  // x + (x2 - x) may differ from x2 in the last bit: equal to rounding, not bit for bit.
  assert.ok(maxDiff(statsOf(again.summary), statsOf(direct.summary)) < 1e-12);
  assert.ok(maxDiff(again.apPerClass.map((v) => v ?? -1), direct.apPerClass.map((v) => v ?? -1)) < 1e-12);
  // And the file is pycocotools' own: same entries as the fixture's results, image by image.
  const key = (r: { image_id: unknown; category_id: number; score: number }) => `${r.image_id}/${r.category_id}/${r.score}`;
  assert.deepEqual(written.map(key).sort(), set.results.map(key).sort());
  assert.ok(maxDiff(statsOf(direct.summary), set.expected.stats) < 1e-9);
  // ssd eval --json: the 12 numbers under pycocotools' names, then per-class AP.
  const json = evaluationJson(direct);
  assert.deepEqual(Object.keys(json), ['metric', 'map', 'ap', 'ap50', 'ap75', 'ap_small', 'ap_medium', 'ap_large', 'ar1', 'ar10', 'ar100', 'ar_small', 'ar_medium', 'ar_large', 'ap_per_class']);
  assert.ok(maxDiff([json.ap!, json.ap50!, json.ar100!, json.ar_large!], [0, 1, 8, 11].map((i) => set.expected.stats[i]!)) < 1e-9);
  assert.equal(Object.keys(json.ap_per_class).length, 6);
});

test("ssd detect's naming for a dataset: model classes by name, other classes left out; pycocotools' numbers back", async () => {
  const set = readFixtureSet('sparse-ids');
  const dataset = await loadFixtureDataset(set, scratch);
  const detections = readCocoResults(set.resultsFile, dataset);
  // A model with the dataset's classes in another order, plus one the dataset lacks.
  const modelClasses = ['background', 'zebra', ...[...dataset.classNames].reverse()];
  const images: DetectedImage[] = dataset.samples.map((s, i) => {
    const d = detections[i]!;
    return {
      file: s.imagePath,
      detections: [
        ...Array.from(d.labels, (label, k) => ({
          classIndex: modelClasses.indexOf(dataset.classNames[label - 1]!),
          score: d.scores[k]!,
          box: { xmin: d.boxes[4 * k]!, ymin: d.boxes[4 * k + 1]!, xmax: d.boxes[4 * k + 2]!, ymax: d.boxes[4 * k + 3]! },
        })),
        { classIndex: 1, score: 0.99, box: { xmin: 0, ymin: 0, xmax: 5, ymax: 5 } },
      ],
    };
  });
  const { results, dropped } = detectionsToCocoResults(images, modelClasses, { data: dataset, what: 'the sparse-ids set' });
  assert.deepEqual([...dropped], [['zebra', dataset.samples.length]]);
  assert.ok(results.every((r) => typeof r.image_id === 'number' && dataset.categoryIds!.includes(r.category_id)));
  const file = writeJson('detect.json', results);
  const scored = evaluateResults(readCocoResults(file, dataset), dataset, 'coco') as CocoEvaluation;
  assert.ok(maxDiff(statsOf(scored.summary), set.expected.stats) < 1e-9, `${statsOf(scored.summary)} vs ${set.expected.stats}`);
  // A file that is not an image of the dataset, and a model that shares no class with it, are refused.
  assert.throws(() => detectionsToCocoResults([{ file: join(scratch, 'elsewhere.jpg'), detections: [] }], modelClasses, { data: dataset, what: 'the set' }), /elsewhere\.jpg is not an image of the set/);
  assert.throws(() => detectionsToCocoResults(images, ['background', 'zebra'], { data: dataset, what: 'the set' }), /none of the model's classes \(zebra\) is a class of the set/);
});
