import assert from 'node:assert/strict';
import { test } from 'node:test';
import { join, sep } from 'node:path';
import { loadYolo, yoloLabelPath } from '../../src/data/yolo.js';
import { loadDataset } from '../../src/data/dataset.js';
import { assertProblem, expectDatasetError, fixture } from './helpers.js';

test('YOLO: label path follows Ultralytics (last /images/ -> /labels/, extension -> .txt)', () => {
  assert.equal(yoloLabelPath(join(sep, 'd', 'images', 'train', 'a.b.jpg')), join(sep, 'd', 'labels', 'train', 'a.b.txt'));
  assert.equal(yoloLabelPath(join(sep, 'images', 'x', 'images', 'y.png')), join(sep, 'images', 'x', 'labels', 'y.txt'));
  assert.equal(yoloLabelPath(join(sep, 'flat', 'y.png')), join(sep, 'flat', 'y.txt'));
});

test('YOLO: normalised cx cy w h become pixel corners, classes 0-based become 1..C, names as a map', async () => {
  const d = await loadDataset(fixture('yolo')); // the folder's data.yaml, split train
  assert.equal(d.format, 'yolo');
  assert.deepEqual(d.classNames, ['circle', 'square', 'star']);
  assert.deepEqual(d.samples.map((s) => s.id), ['p', 'q']);
  const [p, q] = d.samples;
  assert.deepEqual([p.width, p.height], [20, 10]);
  // 0 0.5 0.5 0.5 0.4 on 20x10 -> [5, 3, 15, 7]; 1 0.25 0.3 0.1 0.2 -> [4, 2, 6, 4]
  const b = Array.from(p.boxes);
  [5, 3, 15, 7, 4, 2, 6, 4].forEach((v, i) => assert.ok(Math.abs(b[i] - v) < 1e-5, `box value ${i}: ${b[i]} vs ${v}`));
  assert.deepEqual(Array.from(p.labels), [1, 2]);
  assert.deepEqual(Array.from(p.difficult), [0, 0]);
  assert.equal(q.labels.length, 0); // no label file: an image without objects
});

test('YOLO: a split given as a .txt list, names as a list, polygons become their bounding boxes', async () => {
  const d = await loadYolo(fixture('yolo', 'list.yaml'), { split: 'val' });
  assert.deepEqual(d.classNames, ['circle', 'square', 'star']);
  assert.deepEqual(d.samples.map((s) => s.id), ['r']);
  assert.deepEqual(Array.from(d.samples[0].boxes), [2, 3, 6, 9]);
  assert.deepEqual(Array.from(d.samples[0].labels), [3]);
  const err = await expectDatasetError(() => loadYolo(fixture('yolo', 'list.yaml'), { split: 'test' }));
  assertProblem(err, 'list.yaml', 'test', /no 'test' entry/);
});

test('YOLO: every bad label line is reported with its file, line and field', async () => {
  const err = await expectDatasetError(() => loadYolo(fixture('yolo-broken', 'data.yaml')));
  assert.equal(err.problems.length, 5, err.message);
  const a = join('labels', 'train', 'a.txt');
  assertProblem(err, a, 'cy', /not a number: 'abc'/, 2);
  assertProblem(err, a, 'class', /unknown class 5 \(classes are 0\.\.1\)/, 3);
  assertProblem(err, a, '(line)', /expected 'class cx cy w h' \(5 fields\) or a polygon .*got 4 fields/, 4);
  assertProblem(err, a, 'box', /box outside the 16x12 image: cx 0\.95 cy 0\.5 w 0\.5 h 0\.2 \(x 11\.2\.\.19\.2, y 4\.8\.\.7\.2 px\)/, 5);
  assertProblem(err, a, 'w', /must be positive, got -0\.1/, 6);
  const d = await loadYolo(fixture('yolo-broken', 'data.yaml'), { skipBad: true });
  assert.deepEqual(d.samples.map((s) => s.id), ['b', 'c']);
  assert.equal(d.skipped, 1);
});

test('YOLO: a data.yaml without names, with a wrong nc, malformed or empty is an error naming it', async () => {
  let err = await expectDatasetError(() => loadYolo(fixture('yolo-broken', 'no_names.yaml')));
  assertProblem(err, 'no_names.yaml', 'names', /missing: must be a list of class names or a map/);
  err = await expectDatasetError(() => loadYolo(fixture('yolo-broken', 'bad_nc.yaml')));
  assertProblem(err, 'bad_nc.yaml', 'nc', /is 3 but names lists 2 classes/);
  err = await expectDatasetError(() => loadYolo(fixture('yolo-broken', 'malformed.yaml')));
  assertProblem(err, 'malformed.yaml', undefined, /malformed YAML/, 3);
  err = await expectDatasetError(() => loadYolo(fixture('yolo-broken', 'empty.yaml')));
  assertProblem(err, 'empty.yaml', undefined, /empty YAML file/);
  err = await expectDatasetError(() => loadYolo(fixture('yolo-broken', 'data.yaml'), { split: 'val' }));
  assertProblem(err, 'data.yaml', 'val', /images\/val not found/);
});
