// The data loader (training and evaluation) decodes with the pixel limit, in its worker threads too: an image bomb
// in a dataset is an error naming the file and the limit, costing no memory; `maxImagePixels` sets the limit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { DataLoader, type LoaderSample } from '../../src/data/loader.js';
import { pngBomb } from '../io/png-bomb.js';
import { peakRssGrowth } from '../io/peak-rss.js';

let dir = '';
const sample = (id: string, imagePath: string): LoaderSample => ({ id, imagePath, boxes: new Float32Array([1, 1, 20, 20]), labels: new Int32Array([1]), difficult: new Uint8Array(1) });

before(() => (dir = mkdtempSync(join(tmpdir(), 'ssd-loader-limit-'))));
after(() => rmSync(dir, { recursive: true, force: true }));

async function firstBatch(samples: LoaderSample[], workers: number, maxPixels?: number): Promise<void> {
  const loader = await DataLoader.create({ samples, batchSize: samples.length, inputSize: 64, augment: false, shuffle: false, workers, ...(maxPixels === undefined ? {} : { maxImagePixels: maxPixels }) });
  try {
    for await (const _ of loader.epoch(0)) void _;
  } finally {
    await loader.close();
  }
}

test('an image bomb in a dataset stops the loader with an error naming it, without decoding it (worker and inline)', async () => {
  const bomb = join(dir, 'bomb.png');
  writeFileSync(bomb, pngBomb(16000, 16000));
  for (const workers of [1, 0]) {
    const { growthMb } = await peakRssGrowth(() =>
      assert.rejects(firstBatch([sample('bomb', bomb)], workers), (e: Error) => e.message === `${bomb}: image is 16000x16000 = 256 megapixels, above the limit of 40 megapixels; --max-pixels raises it`),
    );
    assert.ok(growthMb < 200, `workers ${workers}: RSS grew by ${growthMb.toFixed(0)} MB`);
  }
});

test('maxImagePixels reaches the loader workers: a 100x80 image is refused under 0.005 megapixels, read under the default', async () => {
  const small = join(dir, 'small.png');
  writeFileSync(small, await sharp({ create: { width: 100, height: 80, channels: 3, background: '#808080' } }).png().toBuffer());
  await assert.rejects(firstBatch([sample('small', small)], 1, 5000), /small\.png: image is 100x80 = 0\.008 megapixels, above the limit of 0\.005 megapixels/);
  await firstBatch([sample('small', small)], 1);
});
