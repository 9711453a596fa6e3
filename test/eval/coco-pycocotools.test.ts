// COCO evaluation against pycocotools' own COCOeval on the generated sets of test/fixtures/coco/ (made by
// scripts/coco-fixtures/make_coco_fixtures.py, which runs cocoapi's cocoeval.py and coco.py): the 12 summary numbers,
// the same 12 per category, and the lines summarize() prints; straight from the JSON, and the way `ssd eval
// --detections --metric coco` reads it (COCO reader, results reader, float32 ground-truth boxes).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateDetections, formatEvaluation } from '../../src/eval/index.js';
import type { CocoEvaluation } from '../../src/eval/types.js';
import { readCocoResults } from '../../src/train/coco-results.js';
import { evaluateResults } from '../../src/train/evaluate.js';
import { FIXTURE_SETS, fixtureImages, loadFixtureDataset, readFixtureSet, STAT_NAMES, statsOf, type FixtureSet } from '../fixtures/coco-sets.js';

// Measured differences are ~1e-16 (summation order); the brief asks for 1e-4.
const TOLERANCE = 1e-9;
const scratch = mkdtempSync(join(tmpdir(), 'ssd-coco-pycocotools-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function assertStats(ours: number[], want: number[], what: string): void {
  ours.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) <= TOLERANCE, `${what} ${STAT_NAMES[i]}: ours ${v}, pycocotools ${want[i]}`));
}

function assertMatches(set: FixtureSet, r: CocoEvaluation, how: string): void {
  assertStats(statsOf(r.summary), set.expected.stats, `${set.name} (${how})`);
  set.expected.categories.forEach((c, k) => assertStats(statsOf(r.summaryPerClass[k]!), c.stats, `${set.name} (${how}) category ${c.id}`));
  // map, map50 and map75 are the summary's AP, AP50, AP75.
  assert.deepEqual([r.map, r.map50, r.map75], [r.summary.ap, r.summary.ap50, r.summary.ap75]);
}

for (const name of FIXTURE_SETS) {
  test(`pycocotools fixture '${name}': 12 numbers, per category, printed summary`, async () => {
    const set = readFixtureSet(name);
    const { images, numClasses } = fixtureImages(set);
    const direct = evaluateDetections(images, { metric: 'coco', numClasses });
    assertMatches(set, direct, 'evaluateDetections');
    assert.deepEqual(formatEvaluation(direct).split('\n').slice(-12), set.expected.summary, 'summary lines as pycocotools prints them');

    const dataset = await loadFixtureDataset(set, scratch);
    const viaFiles = evaluateResults(readCocoResults(set.resultsFile, dataset), dataset, 'coco');
    assert.equal(viaFiles.metric, 'coco');
    assertMatches(set, viaFiles as CocoEvaluation, 'ssd eval --detections');
  });
}

test('the fixtures tell the rules apart: crowd, area field, image order and maxDets each change the numbers', () => {
  const differs = (a: number[], b: number[]) => a.some((v, i) => Math.abs(v - b[i]!) > 1e-3);
  const crowd = readFixtureSet('crowd');
  const { images, numClasses } = fixtureImages(crowd);
  // Crowd regions as ordinary objects (pycocotools with iscrowd cleared) or as VOC-style difficult objects.
  const ordinary = images.map((im) => ({ ...im, groundTruth: { ...im.groundTruth, crowd: undefined } }));
  assert.ok(differs(statsOf(evaluateDetections(ordinary, { metric: 'coco', numClasses }).summary), crowd.expected.stats));
  const difficult = images.map((im) => ({ ...im, groundTruth: { ...im.groundTruth, crowd: undefined, difficult: im.groundTruth.crowd } }));
  assert.ok(differs(statsOf(evaluateDetections(difficult, { metric: 'coco', numClasses }).summary), crowd.expected.stats));

  const areas = readFixtureSet('areas');
  const a = fixtureImages(areas);
  const boxAreas = a.images.map((im) => ({ ...im, groundTruth: { ...im.groundTruth, area: undefined } }));
  assert.ok(differs(statsOf(evaluateDetections(boxAreas, { metric: 'coco', numClasses: a.numClasses }).summary), areas.expected.stats));

  const ties = readFixtureSet('ties');
  const t = fixtureImages(ties);
  const reversed = evaluateDetections([...t.images].reverse(), { metric: 'coco', numClasses: t.numClasses });
  assert.ok(differs(statsOf(reversed.summary), ties.expected.stats), 'equal scores rank by image order');

  const many = readFixtureSet('many-dets');
  const m = fixtureImages(many);
  const ours = evaluateDetections(m.images, { metric: 'coco', numClasses: m.numClasses });
  assert.ok(ours.summary.ar1! < ours.summary.ar10! && ours.summary.ar10! < ours.summary.ar100!);
  assert.ok(ours.numDetections.every((n) => n === 100 * m.images.length), 'each image and class cut to 100');
});
