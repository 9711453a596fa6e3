// `ssd detect`: images and folders in, annotated copies and one JSON file out; unreadable files named and
// skipped; COCO results (named by file or by a dataset); the command end to end on a real SSD300 model file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { collectImages, command, detectImages, type DetectReport } from '../../src/cli/detect.js';
import { loadDataset } from '../../src/data/dataset.js';
import { detectionsToCocoResults, readCocoResults } from '../../src/train/coco-results.js';
import { SSD } from '../../src/nn/model.js';
import { TinyDetector } from '../serve/tiny-model.js';

const fixtureRoot = fileURLToPath(new URL('../fixtures/datasets', import.meta.url));

let dir: string;
const model = new TinyDetector();

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssd-detect-'));
  mkdirSync(join(dir, 'in', 'sub'), { recursive: true });
  const scene = (w: number, h: number) =>
    sharp({ create: { width: w, height: h, channels: 3, background: { r: 30, g: 110, b: 200 } } }).composite([
      { input: { create: { width: Math.round(w / 3), height: Math.round(h / 2), channels: 3, background: { r: 240, g: 200, b: 20 } } }, left: Math.round(w / 4), top: Math.round(h / 5) },
      { input: { create: { width: Math.round(w / 5), height: Math.round(h / 5), channels: 3, background: { r: 250, g: 20, b: 20 } } }, left: Math.round((2 * w) / 3), top: Math.round((2 * h) / 3) },
    ]);
  await scene(640, 480).jpeg().toFile(join(dir, 'in', '000000000042.jpg'));
  await scene(500, 333).jpeg().withMetadata({ orientation: 6 }).toFile(join(dir, 'in', 'rotated.jpg'));
  await scene(320, 240).grayscale().png().toFile(join(dir, 'in', 'gray.png'));
  await scene(256, 256).ensureAlpha(0.6).png().toFile(join(dir, 'in', 'sub', 'alpha.png'));
  await scene(256, 256).png().toFile(join(dir, 'in', 'sub', 'gray.png')); // same base name as another input
  writeFileSync(join(dir, 'in', 'broken.jpg'), 'not a jpeg');
  writeFileSync(join(dir, 'in', 'notes.txt'), 'not an image and not taken from a folder');
});

after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await model.dispose();
});

test('collectImages: folders recursively by extension, files as given; a missing path is an error naming it', () => {
  const files = collectImages([join(dir, 'in')]).map((f) => f.slice(dir.length + 1));
  assert.deepEqual(files, ['in/000000000042.jpg', 'in/broken.jpg', 'in/gray.png', 'in/rotated.jpg', 'in/sub/alpha.png', 'in/sub/gray.png']);
  assert.deepEqual(collectImages([join(dir, 'in', 'notes.txt')]), [join(dir, 'in', 'notes.txt')]);
  assert.throws(() => collectImages([join(dir, 'missing.jpg')]), /missing\.jpg' does not exist/);
});

test('detectImages: every readable image detected as model.detect does, annotated copies written, failures named', async () => {
  const out = join(dir, 'out-api');
  const files = collectImages([join(dir, 'in')]);
  const seen: string[] = [];
  const { images, failed } = await detectImages(model, files, { outDir: out, minScore: 0.2, batch: 3, onImage: (f) => seen.push(f) });
  assert.equal(seen.length, files.length, 'onImage for every file');
  assert.deepEqual(failed.map((f) => f.file), [join(dir, 'in', 'broken.jpg')]);
  assert.match(failed[0]!.error, /broken\.jpg/);
  assert.deepEqual(images.map((i) => i.file), files.filter((f) => !f.endsWith('broken.jpg')), 'results in input order');
  const sizes: Record<string, [number, number]> = { '000000000042.jpg': [640, 480], 'rotated.jpg': [333, 500], 'gray.png': [320, 240], 'alpha.png': [256, 256] };
  let total = 0;
  for (const img of images) {
    const want = await model.detect(img.file, { minScore: 0.2 });
    assert.equal(img.detections.length, want.length, img.file);
    // As sets: a batched run may round differently in the last bits, swapping near-equal scores.
    const used = new Uint8Array(want.length);
    for (const d of img.detections) {
      const i = want.findIndex((w, i) => !used[i] && w.label === d.label && Math.abs(w.score - d.score) < 1e-5 && Math.abs(w.box.xmin - d.box.xmin) <= 0.01 && Math.abs(w.box.ymax - d.box.ymax) <= 0.01);
      assert.ok(i >= 0, `${img.file}: ${JSON.stringify(d)} is not among model.detect's`);
      used[i] = 1;
    }
    total += want.length;
    const base = img.file.split('/').pop()!;
    if (sizes[base] && !img.file.includes('sub/gray')) assert.deepEqual([img.width, img.height], sizes[base], `${base} size after EXIF orientation`);
    const meta = await sharp(join(out, img.annotated)).metadata();
    assert.deepEqual([meta.width, meta.height], [img.width, img.height], `${img.annotated} has the image's size`);
  }
  assert.ok(total > 0, 'the pictures must give detections');
  assert.deepEqual(images.map((i) => i.annotated).sort(), ['000000000042.jpg', 'alpha.png', 'gray.png', 'gray_1.png', 'rotated.jpg']);
  assert.equal((await sharp(join(out, 'alpha.png')).metadata()).channels, 4, 'alpha kept');
});

test('COCO results of plain files: bbox [x, y, w, h], image_id the stem (a number when all digits), category = class index', () => {
  const names = ['background', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'dog'];
  const { results, dropped } = detectionsToCocoResults(
    [
      { file: 'a/000000000042.jpg', detections: [{ classIndex: 8, score: 0.9, box: { xmin: 1, ymin: 2, xmax: 5.5, ymax: 9 } }] },
      { file: 'b/photo.jpg', detections: [{ classIndex: 12, score: 0.4, box: { xmin: 0, ymin: 0, xmax: 3, ymax: 4 } }] },
    ],
    names,
  );
  assert.deepEqual(results, [
    { image_id: 42, category_id: 8, bbox: [1, 2, 4.5, 7], score: 0.9 },
    { image_id: 'photo', category_id: 12, bbox: [0, 0, 3, 4], score: 0.4 },
  ]);
  assert.equal(dropped.size, 0);
  // Two files with one stem would merge into one image: refused, naming both.
  assert.throws(() => detectionsToCocoResults([{ file: 'a/x.jpg', detections: [] }, { file: 'b/x.png', detections: [] }], names), /a\/x\.jpg and b\/x\.png would both be image_id "x"/);
});

test('ssd detect end to end with an SSD300 model file: JSON report, suppressed classes, exit code 1 naming the broken file', async () => {
  const weights = join(dir, 'ssd300.safetensors');
  SSD.create(undefined, { seed: 5 }).save(weights);
  const errors: string[] = [];
  const original = console.error;
  console.error = (...a: unknown[]) => void errors.push(a.join(' '));
  let code: number;
  try {
    code = await command.run(['--weights', weights, join(dir, 'in', 'gray.png'), join(dir, 'in', 'broken.jpg'), '--out', join(dir, 'out-cli'), '--min-score', '0.3', '--suppress', 'cat,dog']);
  } finally {
    console.error = original;
  }
  assert.equal(code, 1, 'a file failed');
  assert.ok(errors.some((e) => e.includes('broken.jpg')), `stderr names the broken file: ${errors.join(' | ')}`);
  const report = JSON.parse(readFileSync(join(dir, 'out-cli', 'detections.json'), 'utf8')) as DetectReport;
  assert.equal(report.images.length, 1);
  assert.equal(report.failed.length, 1);
  assert.deepEqual(report.options, { minScore: 0.3, maxOverlap: 0.45, topK: 200, suppress: ['cat', 'dog'] });
  assert.ok(existsSync(join(dir, 'out-cli', 'gray.png')));
  const dets = report.images[0]!.detections;
  assert.deepEqual([report.images[0]!.width, report.images[0]!.height], [320, 240]);
  assert.ok(dets.every((d, i) => d.label !== 'cat' && d.label !== 'dog' && d.score > 0.3 && (i === 0 || d.score <= dets[i - 1]!.score)));
  assert.ok(dets.every((d) => d.box.xmin >= 0 && d.box.xmax <= 320 && d.box.ymin >= 0 && d.box.ymax <= 240), 'boxes in pixels, inside the image');
  await assert.rejects(command.run(['--weights', weights]), /name at least one image/);
  await assert.rejects(command.run(['--weights', weights, join(dir, 'in'), '--suppress', 'unicorn']), /unknown class 'unicorn'/);
});

test('ssd detect --coco --data: image and category ids of the dataset, a file ssd eval --detections reads', async () => {
  const weights = join(dir, 'ssd300-coco.safetensors');
  SSD.create(undefined, { seed: 5 }).save(weights); // the 20 VOC classes: person, car and dog are the fixture's too
  const data = join(fixtureRoot, 'coco', 'annotations', 'instances_val.json');
  const out = join(dir, 'out-coco');
  const errors: string[] = [];
  const original = console.error;
  console.error = (...a: unknown[]) => void errors.push(a.join(' '));
  let code: number;
  try {
    code = await command.run(['--weights', weights, '--coco', '--data', data, '--min-score', '0.01', '--out', out]);
  } finally {
    console.error = original;
  }
  assert.equal(code, 0);
  const results = JSON.parse(readFileSync(join(out, 'coco_results.json'), 'utf8')) as { image_id: unknown; category_id: unknown }[];
  assert.ok(results.length > 0, 'a random model at min score 0.01 finds something');
  // COCO image ids are numbers; category ids are the file's (dog 18, person 1, car 3), not class indices.
  assert.ok(results.every((r) => [42, 7, 9].includes(r.image_id as number)), 'COCO image ids, as numbers');
  assert.ok(results.every((r) => [1, 3, 18].includes(r.category_id as number)), 'only category ids of the dataset');
  assert.ok(errors.some((e) => /left out of coco_results\.json: detections of classes .*instances_val\.json does not have: \w+ \(\d+\)/.test(e)), errors.join(' | '));
  const dataset = await loadDataset(data);
  const read = readCocoResults(join(out, 'coco_results.json'), dataset);
  assert.equal(read.reduce((n, d) => n + d.labels.length, 0), results.length, 'ssd eval --detections reads every entry');
  await assert.rejects(command.run(['--weights', weights, '--data', data]), /--data names the dataset .* add --coco/);
  await assert.rejects(command.run(['--weights', weights, '--coco', '--data', data, join(dir, 'in', 'gray.png')]), /gray\.png is not an image of .*instances_val\.json/);
});
