import assert from 'node:assert/strict';
import { test } from 'node:test';
import { detectFormat, loadDataset } from '../../src/data/dataset.js';
import { assertProblem, expectDatasetError, fixture } from './helpers.js';

test('detectFormat: Annotations/ -> VOC, .json -> COCO, .yaml or a folder with data.yaml -> YOLO', () => {
  assert.equal(detectFormat(fixture('voc')).format, 'voc');
  assert.equal(detectFormat(fixture('coco', 'annotations', 'instances_val.json')).format, 'coco');
  assert.equal(detectFormat(fixture('coco')).format, 'coco');
  assert.equal(detectFormat(fixture('yolo', 'list.yaml')).format, 'yolo');
  const y = detectFormat(fixture('yolo'));
  assert.deepEqual([y.format, y.path.endsWith('data.yaml')], ['yolo', true]);
});

test('loadDataset: paths that are no dataset are errors naming the path', async () => {
  let err = await expectDatasetError(() => loadDataset(fixture('nowhere')));
  assertProblem(err, 'nowhere', undefined, /no such file or folder/);
  err = await expectDatasetError(() => loadDataset(fixture('voc', 'ImageSets', 'Main', 'test.txt')));
  assertProblem(err, 'test.txt', undefined, /unknown dataset file: expected a COCO \.json or a YOLO \.yaml/);
  err = await expectDatasetError(() => loadDataset(fixture('voc', 'JPEGImages')));
  assertProblem(err, 'JPEGImages', undefined, /not a dataset/);
  err = await expectDatasetError(() => loadDataset([fixture('voc'), fixture('yolo')]));
  assertProblem(err, 'yolo', undefined, /only Pascal VOC roots can be joined/);
});

test('loadDataset: the same options reach every reader (split, classNames, skipBad)', async () => {
  const voc = await loadDataset(fixture('voc'), { split: 'test' });
  assert.equal(voc.samples.length, 1);
  const yolo = await loadDataset(fixture('yolo', 'list.yaml'), { split: 'val', classNames: ['a', 'b', 'c'] });
  assert.deepEqual(yolo.classNames, ['a', 'b', 'c']);
  const coco = await loadDataset(fixture('coco-broken', 'broken.json'), { skipBad: true, split: 'ignored' });
  assert.equal(coco.skipped, 3);
});
