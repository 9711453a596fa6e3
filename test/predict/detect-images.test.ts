// src/predict over image files: the files a folder holds, detection in batches equal to model.detect's, annotated
// copies of every image's size, unreadable images named and skipped, and copies that cannot be written named with
// what to do (a real ENOSPC from /dev/full, a folder in the way).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { detectImages } from '../../src/predict/detect-images.js';
import { collectImages } from '../../src/predict/inputs.js';
import { TinyDetector } from '../serve/tiny-model.js';
import { writeInputImages } from './input-images.js';

let dir: string;
const model = new TinyDetector();

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssd-predict-images-'));
  await writeInputImages(dir);
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

test('detectImages: a copy that cannot be written is a failure naming the input, the copy and what to do; the others go on', async () => {
  const out = join(dir, 'out-unwritable');
  mkdirSync(out);
  // A full disk, for real: the copy's name is a link to /dev/full, where every write fails with ENOSPC.
  symlinkSync('/dev/full', join(out, 'gray.png'));
  // A folder where the copy would go.
  mkdirSync(join(out, 'rotated.jpg'));
  const files = [join(dir, 'in', 'gray.png'), join(dir, 'in', 'rotated.jpg'), join(dir, 'in', '000000000042.jpg')];
  const { images, failed } = await detectImages(model, files, { outDir: out });
  assert.deepEqual(images.map((i) => i.file), [files[2]]);
  assert.deepEqual(failed.map((f) => f.file), files.slice(0, 2));
  assert.match(failed[0]!.error, new RegExp(`^${files[0]}: cannot write the annotated copy ${join(out, 'gray.png')}: ENOSPC.*; the disk is full: free some space, or give an --out on another disk$`));
  assert.match(failed[1]!.error, new RegExp(`^${files[1]}: cannot write the annotated copy ${join(out, 'rotated.jpg')}: EISDIR.*; a folder of that name is in the way: move it, or give another --out$`));
});
