import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateShapesDataset, renderScene, shapesImageId, type SceneOptions } from '../../src/data/synthetic.js';
import { loadDataset } from '../../src/data/dataset.js';
import { decodeImage } from '../../src/io/image.js';
import { deriveSeed } from '../../src/data/random.js';

const OPTIONS: SceneOptions = { size: [72, 120], objects: [2, 6] };

test('shapes dataset: round-trips through the VOC reader; boxes are the tight boxes of what was drawn', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ssd-shapes-'));
  try {
    const summary = await generateShapesDataset(dir, { ...OPTIONS, images: 12, seed: 7, splits: { train: 2, val: 1, test: 1 } });
    assert.deepEqual([summary.splits.train.length, summary.splits.val.length, summary.splits.test.length], [6, 3, 3]);
    const trainval = await loadDataset(dir, { split: 'trainval' });
    const testSplit = await loadDataset(dir, { split: 'test' });
    assert.deepEqual(trainval.classNames, summary.classNames); // from classes.txt
    assert.deepEqual(trainval.samples.map((s) => s.id), [...summary.splits.train, ...summary.splits.val]);
    const samples = [...trainval.samples, ...testSplit.samples];
    assert.equal(samples.length, 12);
    let objects = 0;
    for (const [i, s] of samples.entries()) {
      assert.equal(s.id, shapesImageId(i));
      const scene = renderScene(deriveSeed(7, i), OPTIONS);
      assert.deepEqual([s.width, s.height], [scene.width, scene.height]);
      assert.deepEqual(s.labels, scene.labels);
      assert.deepEqual(s.boxes, scene.boxes);
      assert.ok(s.difficult.every((d) => d === 0));
      objects += s.labels.length;
      for (let j = 0; j < s.labels.length; j++) {
        const [x0, y0, x1, y1] = s.boxes.subarray(4 * j, 4 * j + 4);
        let left = false, right = false, top = false, bottom = false, owned = 0;
        for (let y = 0; y < s.height; y++) {
          for (let x = 0; x < s.width; x++) {
            if (scene.owner[y * s.width + x] !== j) continue;
            owned++;
            assert.ok(x >= x0 && x < x1 && y >= y0 && y < y1, `image ${s.id} object ${j}: owned pixel (${x}, ${y}) outside its box`);
            left ||= x === x0;
            right ||= x === x1 - 1;
            top ||= y === y0;
            bottom ||= y === y1 - 1;
          }
        }
        assert.ok(left && right && top && bottom, `image ${s.id} object ${j}: a box edge holds none of its pixels`);
        assert.ok(scene.visible[j] >= 0.6, `object ${j} only ${scene.visible[j]} visible`);
        assert.ok(owned >= 0.6 * 4, 'objects have pixels');
      }
      // The JPEG on disk is the rendered scene (up to compression): each object's mean colour matches.
      const img = await decodeImage(s.imagePath);
      for (let j = 0; j < s.labels.length; j++) {
        const sum = [0, 0, 0, 0, 0, 0];
        let count = 0;
        for (let p = 0; p < s.width * s.height; p++) {
          // interior pixels only (2 px from the outline), where compression does not blur colours together
          const x = p % s.width, y = (p - x) / s.width;
          if (x < 2 || y < 2 || x >= s.width - 2 || y >= s.height - 2) continue;
          if (scene.owner[p] !== j || scene.owner[p - 2] !== j || scene.owner[p + 2] !== j || scene.owner[p - 2 * s.width] !== j || scene.owner[p + 2 * s.width] !== j) continue;
          count++;
          for (let c = 0; c < 3; c++) { sum[c] += img.data[3 * p + c]; sum[3 + c] += scene.rgb[3 * p + c]; }
        }
        if (count < 10) continue;
        for (let c = 0; c < 3; c++) {
          const d = Math.abs(sum[c] - sum[3 + c]) / count;
          assert.ok(d < 4, `image ${s.id} object ${j} channel ${c}: mean ${sum[c] / count} on disk, ${sum[3 + c] / count} rendered`);
        }
      }
    }
    assert.equal(objects, summary.objects);
    const xml = readFileSync(join(dir, 'Annotations', '000001.xml'), 'utf8');
    assert.match(xml, /<filename>000001\.jpg<\/filename>/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('shapes: the same seed renders the same scene; another seed another', () => {
  const a = renderScene(123, OPTIONS), b = renderScene(123, OPTIONS), c = renderScene(124, OPTIONS);
  assert.deepEqual(a.rgb, b.rgb);
  assert.deepEqual(a.boxes, b.boxes);
  assert.ok(a.rgb.length !== c.rgb.length || a.rgb.some((v, i) => v !== c.rgb[i]));
});

test('shapes: each class has its own footprint (fill of its box), sizes and counts follow the options', () => {
  // Pixels owned / box area of a lone, unoccluded shape: a circle fills pi/4 of its box, a star far less.
  const fill = (cls: 'circle' | 'star' | 'square', seed: number) => {
    const s = renderScene(seed, { size: 160, classes: [cls], objects: [1, 1], scale: [0.4, 0.6] });
    const [x0, y0, x1, y1] = s.boxes;
    let owned = 0;
    for (const o of s.owner) if (o === 0) owned++;
    return { ratio: owned / ((x1 - x0) * (y1 - y0)), side: Math.max(x1 - x0, y1 - y0), aspect: (x1 - x0) / (y1 - y0) };
  };
  for (let seed = 0; seed < 5; seed++) {
    const c = fill('circle', seed);
    assert.ok(Math.abs(c.ratio - Math.PI / 4) < 0.04, `circle fill ${c.ratio}`);
    assert.ok(Math.abs(c.aspect - 1) < 0.05);
    assert.ok(c.side >= 0.4 * 160 - 2 && c.side <= 0.6 * 160 + 2, `circle diameter ${c.side}`);
    assert.ok(fill('star', seed).ratio < 0.55);
    assert.ok(fill('square', seed).ratio >= 0.49);
  }
  for (let seed = 0; seed < 10; seed++) {
    const s = renderScene(seed, { size: [64, 100], objects: [3, 3], classes: ['triangle', 'cross'] });
    assert.ok(s.width >= 64 && s.width <= 100 && s.height >= 64 && s.height <= 100);
    assert.ok(s.labels.length <= 3 && s.labels.every((l) => l === 1 || l === 2));
  }
});

test('shapes: bad options are rejected with the offending value', async () => {
  const dir = join(tmpdir(), 'ssd-shapes-never');
  await assert.rejects(generateShapesDataset(dir, { classes: ['circle', 'blob' as 'circle'] }), /unknown shape class 'blob'/);
  await assert.rejects(generateShapesDataset(dir, { images: 0 }), /images must be a positive integer, got 0/);
});
