import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadVoc, VOC_CLASS_NAMES } from '../../src/data/voc.js';
import { loadDataset } from '../../src/data/dataset.js';
import { assertProblem, expectDatasetError, fixture } from './helpers.js';

const label = (name: string) => VOC_CLASS_NAMES.indexOf(name) + 1;

test('VOC: reads the trainval split, converts 1-based boxes to continuous pixels, keeps difficult', async () => {
  const d = await loadVoc(fixture('voc'));
  assert.equal(d.format, 'voc');
  assert.deepEqual(d.classNames, VOC_CLASS_NAMES);
  assert.deepEqual(d.samples.map((s) => s.id), ['000001', '000002', '000003']);
  const [a, b, c] = d.samples;
  assert.ok(a.imagePath.endsWith('JPEGImages/000001.png'));
  assert.deepEqual([a.width, a.height], [16, 12]);
  // <xmin>1</xmin><ymin>2</ymin><xmax>8</xmax><ymax>10</ymax> -> [0, 1, 8, 10]
  assert.deepEqual(Array.from(a.boxes), [0, 1, 8, 10, 4, 0, 16, 12]);
  assert.deepEqual(Array.from(a.labels), [label('dog'), label('person')]);
  assert.deepEqual(Array.from(a.difficult), [0, 1]);
  assert.deepEqual(Array.from(b.labels), [label('cat')]);
  // 000003.xml has no <size>: the image header gives 10x8.
  assert.deepEqual([c.width, c.height], [10, 8]);
  assert.equal(d.problems.length, 0);
  assert.equal(d.skipped, 0);
});

test('VOC: a named split reads ImageSets/Main/<split>.txt; a missing one is an error naming the file', async () => {
  const d = await loadVoc(fixture('voc'), { split: 'test' });
  assert.deepEqual(d.samples.map((s) => s.id), ['000002']);
  const err = await expectDatasetError(() => loadVoc(fixture('voc'), { split: 'nope' }));
  assertProblem(err, 'ImageSets/Main/nope.txt', undefined, /split file not found \(split 'nope'\)/);
});

test('VOC: several roots join (VOC07+12); a stem seen twice is prefixed with its root', async () => {
  const d = await loadDataset([fixture('voc'), fixture('voc2')]);
  assert.deepEqual(d.samples.map((s) => s.id), ['000001', '000002', '000003', '2008_000001', 'voc2/000001']);
  assert.equal(d.sources.length, 2);
  const last = d.samples[4];
  assert.ok(last.imagePath.includes('voc2'));
  assert.deepEqual(Array.from(last.labels), [label('bird')]);
});

test('VOC: given class names replace the 20 VOC classes, and other names become unknown', async () => {
  const d = await loadVoc(fixture('voc'), { classNames: ['car', 'cat', 'dog', 'person'] });
  assert.deepEqual(Array.from(d.samples[0].labels), [3, 4]);
  assert.deepEqual(Array.from(d.samples[2].labels), [1]);
  const err = await expectDatasetError(() => loadVoc(fixture('voc'), { classNames: ['dog'] }));
  assertProblem(err, 'Annotations/000001.xml', 'object[1].name', /unknown class 'person' \(classes: dog\)/);
});

test('VOC: every problem of a broken dataset is reported with its file and field, in one error', async () => {
  const err = await expectDatasetError(() => loadVoc(fixture('voc-broken')));
  assert.equal(err.problems.length, 10, err.message);
  assert.match(err.message, /^Pascal VOC .*voc-broken: 10 problems:/);
  assertProblem(err, 'JPEGImages/missing_image.png', undefined, /image file not found \(annotated by .*missing_image\.xml\)/);
  assertProblem(err, 'Annotations/outside.xml', 'object[1].bndbox', /box outside the 16x12 image: xmin 4, ymin 3, xmax 30, ymax 11/);
  assertProblem(err, 'Annotations/inverted.xml', 'object[0].bndbox', /xmax <= xmin, the box has no width: xmin 9, ymin 2, xmax 5, ymax 6/);
  assertProblem(err, 'Annotations/unknown_class.xml', 'object[0].name', /unknown class 'unicorn'/);
  assertProblem(err, 'Annotations/empty.xml', undefined, /empty annotation file/);
  const malformed = assertProblem(err, 'Annotations/malformed.xml', undefined, /malformed XML: .*closing tag/);
  assert.equal(malformed.line, 4);
  assertProblem(err, 'Annotations/non_numeric.xml', 'object[0].bndbox.ymin', /not a number: 'abc'/);
  assertProblem(err, 'Annotations/no_bndbox.xml', 'object[0].bndbox', /missing <bndbox>/);
  assertProblem(err, 'Annotations/bad_difficult.xml', 'object[0].difficult', /must be 0 or 1, got 'maybe'/);
  assertProblem(err, 'Annotations/no_annotation_file.xml', undefined, /annotation file not found/);
  // The good sample is not blamed.
  assert.ok(!err.problems.some((p) => p.sampleId === 'good'));
});

test('VOC: skipBad keeps the good samples and reports how many were skipped and why', async () => {
  const d = await loadVoc(fixture('voc-broken'), { skipBad: true });
  assert.deepEqual(d.samples.map((s) => s.id), ['good']);
  assert.equal(d.skipped, 10);
  assert.equal(d.problems.length, 10);
  assert.deepEqual(new Set(d.problems.map((p) => p.sampleId)).size, 10);
});

test('VOC: checkImageSizes compares the annotation with the image header', async () => {
  const d = await loadVoc(fixture('voc'), { checkImageSizes: true });
  assert.equal(d.samples.length, 3);
  // Without the check the annotation's size is trusted; with it the mismatch is reported.
  assert.equal((await loadVoc(fixture('voc-size'))).samples[0].width, 20);
  const err = await expectDatasetError(() => loadVoc(fixture('voc-size'), { checkImageSizes: true }));
  assertProblem(err, 'Annotations/x.xml', 'size', /says 20x12 but the image .*x\.png is 16x12/);
});

test('VOC: a folder without Annotations is not a VOC root', async () => {
  const err = await expectDatasetError(() => loadVoc(fixture('yolo')));
  assertProblem(err, 'yolo', undefined, /not a Pascal VOC root: it has no Annotations folder/);
});
