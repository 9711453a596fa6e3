import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadCoco } from '../../src/data/coco.js';
import { loadDataset } from '../../src/data/dataset.js';
import { assertProblem, expectDatasetError, fixture } from './helpers.js';

test('COCO: categories become 1..C in id order with the original ids kept; bbox [x,y,w,h] -> corners; iscrowd -> difficult', async () => {
  const d = await loadCoco(fixture('coco', 'annotations', 'instances_val.json'));
  assert.equal(d.format, 'coco');
  assert.deepEqual(d.classNames, ['person', 'car', 'dog']);
  assert.deepEqual(d.categoryIds, [1, 3, 18]);
  assert.deepEqual(d.samples.map((s) => s.id), ['42', '7', '9']);
  const [a, b, c] = d.samples;
  // The image folder is found next to the annotations folder (../val for instances_val.json).
  assert.ok(a.imagePath.endsWith('coco/val/a.png'));
  assert.deepEqual(Array.from(a.boxes), [1, 2, 6, 8, 0, 0, 16, 12]);
  assert.deepEqual(Array.from(a.labels), [3, 1]); // dog (id 18) -> 3, person (id 1) -> 1
  assert.deepEqual(Array.from(a.difficult), [0, 1]); // the crowd region
  assert.deepEqual(Array.from(b.boxes), [2.5, 1, 12.5, 5]);
  assert.deepEqual([b.width, b.height], [20, 10]);
  // Image 9: no size in the JSON (read from the header) and no annotations (kept, no boxes).
  assert.deepEqual([c.width, c.height, c.labels.length], [16, 12, 0]);
});

test('COCO: iscrowd is its own flag next to difficult, and the area field (else the box area) is kept for evaluation', async () => {
  const d = await loadCoco(fixture('coco', 'annotations', 'instances_val.json'));
  const [a, b, c] = d.samples;
  assert.deepEqual(Array.from(a.crowd!), [0, 1]);
  assert.deepEqual(Array.from(a.area!), [5 * 6, 16 * 12]); // no area field in this file: the box areas
  assert.deepEqual(Array.from(b.crowd!), [0]);
  assert.equal(c.crowd, undefined, 'an image without annotations has no COCO fields');

  const dir = mkdtempSync(join(tmpdir(), 'ssd-coco-area-'));
  try {
    const file = join(dir, 'instances_x.json');
    const image = { id: 5, file_name: 'a.png', width: 100, height: 80 };
    writeFileSync(join(dir, 'a.png'), '');
    const ann = (extra: object) => ({ id: 1, image_id: 5, category_id: 1, bbox: [10, 10, 40, 40], iscrowd: 0, ...extra });
    writeFileSync(file, JSON.stringify({ images: [image], categories: [{ id: 1, name: 'thing' }], annotations: [ann({ area: 1000.5 }), ann({ id: 2, iscrowd: 1, area: 0 })] }));
    const s = (await loadCoco(file, { imageDir: dir })).samples[0]!;
    assert.deepEqual(Array.from(s.area!), [1000.5, 0]);
    assert.deepEqual(Array.from(s.crowd!), [0, 1]);
    assert.deepEqual(Array.from(s.difficult), [0, 1], 'crowd regions stay difficult for the VOC metrics and training');
    writeFileSync(file, JSON.stringify({ images: [image], categories: [{ id: 1, name: 'thing' }], annotations: [ann({ area: -3 })] }));
    const err = await expectDatasetError(() => loadCoco(file, { imageDir: dir }));
    assertProblem(err, 'instances_x.json', 'annotations[0].area', /must be a number >= 0, got -3/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('COCO: loadDataset finds annotations/instances_<split>.json in a COCO folder', async () => {
  const d = await loadDataset(fixture('coco'), { split: 'val' });
  assert.equal(d.samples.length, 3);
  const only = await loadDataset(fixture('coco')); // the only instances file
  assert.equal(only.samples.length, 3);
  const err = await expectDatasetError(() => loadDataset(fixture('coco'), { split: 'train' }));
  assertProblem(err, 'coco/annotations', undefined, /no instances_train\.json: pick one with split \(val\)/);
});

test('COCO: given class names select and order the categories by name', async () => {
  const d = await loadCoco(fixture('coco', 'annotations', 'instances_val.json'), { classNames: ['dog', 'person'], skipBad: true });
  assert.deepEqual(d.categoryIds, [18, 1]);
  assert.deepEqual(Array.from(d.samples[0].labels), [1, 2]);
  // Image 7 holds a car, not in the list: skipped with the reason.
  assert.deepEqual(d.samples.map((s) => s.id), ['42', '9']);
  assert.equal(d.skipped, 1);
  assert.match(d.problems[0].message, /unknown category id 3/);
  const err = await expectDatasetError(() => loadCoco(fixture('coco', 'annotations', 'instances_val.json'), { classNames: ['dog', 'zebra'] }));
  assertProblem(err, 'instances_val.json', 'categories', /class 'zebra' is not a category of this file \(categories: person, car, dog\)/);
});

test('COCO: every problem of a broken file is reported with its field', async () => {
  const err = await expectDatasetError(() => loadCoco(fixture('coco-broken', 'broken.json')));
  assert.equal(err.problems.length, 7, err.message);
  assertProblem(err, 'coco-broken/images/missing.png', undefined, /image file not found \(images\[1\]\.file_name of .*broken\.json\)/);
  assertProblem(err, 'broken.json', 'annotations[1].category_id', /unknown category id 99/);
  assertProblem(err, 'broken.json', 'annotations[2].bbox', /box outside the 16x12 image: \[x 10, y 1, width 40, height 4\]/);
  assertProblem(err, 'broken.json', 'annotations[3].bbox[1]', /not a number: "x"/);
  assertProblem(err, 'broken.json', 'annotations[4].bbox', /width 0 and height 4 must be positive/);
  assertProblem(err, 'broken.json', 'annotations[5].bbox', /must be \[x, y, width, height\], got \[1,1,4\]/);
  assertProblem(err, 'broken.json', 'annotations[6].image_id', /no image with id 77/);
});

test('COCO: skipBad drops the images with problems and counts them', async () => {
  const d = await loadCoco(fixture('coco-broken', 'broken.json'), { skipBad: true });
  assert.equal(d.samples.length, 0);
  assert.equal(d.skipped, 3);
  assert.equal(d.problems.length, 7);
});

test('COCO: empty, malformed and structurally wrong files are errors naming the file, line or field', async () => {
  let err = await expectDatasetError(() => loadCoco(fixture('coco-broken', 'empty.json')));
  assertProblem(err, 'empty.json', undefined, /empty JSON file/);
  err = await expectDatasetError(() => loadCoco(fixture('coco-broken', 'malformed.json')));
  assertProblem(err, 'malformed.json', undefined, /malformed JSON: .*\(line 3, column \d+\)/, 3);
  err = await expectDatasetError(() => loadCoco(fixture('coco-broken', 'no_images.json')));
  assertProblem(err, 'no_images.json', 'images', /missing or not an array/);
  err = await expectDatasetError(() => loadCoco(fixture('coco-broken', 'bad_categories.json')));
  assertProblem(err, 'bad_categories.json', 'categories[1].id', /duplicate category id 1/);
  assertProblem(err, 'bad_categories.json', 'categories[2].id', /not an integer: "x"/);
  err = await expectDatasetError(() => loadCoco(fixture('coco-broken', 'nothing-here.json')));
  assertProblem(err, 'nothing-here.json', undefined, /file not found/);
  // Even with skipBad a file that cannot be read stops the load.
  err = await expectDatasetError(() => loadCoco(fixture('coco-broken', 'malformed.json'), { skipBad: true }));
  assert.equal(err.problems.length, 1);
});
