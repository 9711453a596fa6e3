// Images that cannot be decoded in the loader: with skipBad they are skipped, counted and named, and their batch
// is filled from the next samples, the same on every run whatever the workers, and on a resumed run; without
// skipBad the epoch stops with an error naming the file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { generatePriors, SSD300_PRIORS } from '../../src/boxes/priors.js';
import { DataLoader, epochOrder, type Batch, type DataLoaderOptions, type LoaderSample } from '../../src/data/loader.js';

let dir = '';
const samples: LoaderSample[] = [];
const priors = generatePriors(SSD300_PRIORS);
/** Indices of the samples whose images cannot be decoded. */
const BAD = new Set([2, 6, 7]);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssd-loader-skip-'));
  for (let i = 0; i < 11; i++) {
    const w = 40 + 6 * i;
    const h = 36 + 5 * i;
    const raw = new Uint8Array(w * h * 3);
    for (let k = 0; k < raw.length; k++) raw[k] = (k * (i + 5)) % 253;
    const jpeg = await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).jpeg().toBuffer();
    let path = join(dir, `img${i}.jpg`);
    if (i === 2) writeFileSync(path, jpeg.subarray(0, jpeg.length >> 1)); // truncated: its header still reads
    else if (i === 6) writeFileSync(path, 'this is not an image');
    else if (i === 7) {
      // 3000 x 2000 pixels, over the 4 megapixel limit the tests set.
      path = join(dir, 'img7.png');
      writeFileSync(path, await sharp({ create: { width: 3000, height: 2000, channels: 3, background: '#808080' } }).png().toBuffer());
    } else writeFileSync(path, jpeg);
    samples.push({ id: `img${i}`, imagePath: path, boxes: new Float32Array([2, 3, w - 4, h - 5]), labels: new Int32Array([1 + (i % 3)]), difficult: new Uint8Array(1) });
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

const common: Omit<DataLoaderOptions, 'workers'> = { samples, batchSize: 3, inputSize: 64, priors, seed: 11, prefetch: 1, skipBad: true, maxImagePixels: 4_000_000 };

async function run(options: Partial<DataLoaderOptions> & { workers: number }, epochs: Array<[number, number]>): Promise<{ batches: Batch[]; loader: DataLoader }> {
  const loader = await DataLoader.create({ ...common, ...options });
  const batches: Batch[] = [];
  try {
    for (const [e, start] of epochs) for await (const b of loader.epoch(e, start)) batches.push(b);
  } finally {
    await loader.close();
  }
  return { batches, loader };
}

function assertSameBatches(a: Batch[], b: Batch[], what: string): void {
  assert.equal(a.length, b.length, `${what}: batch count`);
  for (let i = 0; i < a.length; i++) {
    assert.deepEqual([a[i]!.epoch, a[i]!.index, a[i]!.size, a[i]!.last], [b[i]!.epoch, b[i]!.index, b[i]!.size, b[i]!.last], `${what}: batch ${i}`);
    assert.deepEqual(a[i]!.sampleIndices, b[i]!.sampleIndices, `${what}: batch ${i} samples`);
    assert.ok(Buffer.from(a[i]!.images.buffer).equals(Buffer.from(b[i]!.images.buffer)), `${what}: batch ${i} pixels differ`);
    assert.deepEqual(a[i]!.trueClasses, b[i]!.trueClasses, `${what}: batch ${i} classes`);
  }
}

test('skipBad: bad images are skipped and named once, batches are runs of the order without them, full where they can be', async () => {
  const { batches, loader } = await run({ workers: 0 }, [[0, 0], [1, 0]]);
  // 8 good samples in batches of 3: 3, 3, 2 in each epoch; every batch has the right sizes of arrays.
  assert.deepEqual(batches.map((b) => [b.epoch, b.index, b.size, b.last]), [[0, 0, 3, false], [0, 1, 3, false], [0, 2, 2, true], [1, 0, 3, false], [1, 1, 3, false], [1, 2, 2, true]]);
  for (const b of batches) {
    assert.equal(b.images.length, b.size * 3 * 64 * 64);
    assert.equal(b.trueClasses!.length, b.size * (priors.length / 4));
  }
  for (const e of [0, 1]) {
    const expected = [...epochOrder(samples.length, 11, e, true)].filter((i) => !BAD.has(i));
    assert.deepEqual(batches.filter((b) => b.epoch === e).flatMap((b) => [...b.sampleIndices]), expected, `epoch ${e}: the order without the bad samples`);
  }
  // Found in epoch 0, each named once with its file and the decoder's reason, and left out of epoch 1 undecoded.
  assert.deepEqual(loader.skipped.map((s) => s.sampleIndex).sort(), [...BAD].sort());
  assert.ok(loader.skipped.every((s) => s.epoch === 0));
  const reason = new Map(loader.skipped.map((s) => [s.id, s.message]));
  assert.match(reason.get('img2')!, /img2\.jpg: cannot decode image: .*premature end of JPEG/i);
  assert.match(reason.get('img6')!, /img6\.jpg: cannot decode image: .*unsupported image format/);
  assert.match(reason.get('img7')!, /img7\.png: cannot decode image: Input image exceeds pixel limit \(more than 4000000 pixels\)/);
  assert.deepEqual(batches.filter((b) => b.epoch === 0).flatMap((b) => b.skipped.map((s) => s.id)).sort(), ['img2', 'img6', 'img7']);
  assert.deepEqual(batches.filter((b) => b.epoch === 1).flatMap((b) => b.skipped), []);
  assert.deepEqual(loader.skippedIds().sort(), ['img2', 'img6', 'img7']);
});

test('skipBad: the same batches with 0 or 2 workers, with the bad ids known in advance, and on a run resumed mid-epoch', async () => {
  const ref = (await run({ workers: 0 }, [[0, 0], [1, 0]])).batches;
  assertSameBatches((await run({ workers: 2 }, [[0, 0], [1, 0]])).batches, ref, '2 workers');
  // A run that knows the bad samples (as a resumed run does, from the ids its checkpoint kept) decodes none of them.
  const known = await run({ workers: 1, skipIds: ['img7', 'img2', 'img6'] }, [[0, 0], [1, 0]]);
  assertSameBatches(known.batches, ref, 'skipIds');
  assert.equal(known.loader.skipped.length, 0);
  assert.equal(known.loader.batchesPerEpoch, 3);
  // Resumed at batch 1 of epoch 0, with the ids found before the interruption.
  const resumed = await run({ workers: 1, skipIds: ['img2', 'img6', 'img7'] }, [[0, 1], [1, 0]]);
  assertSameBatches(resumed.batches, ref.slice(1), 'resumed');
});

test('dropLast with skipBad: only full batches, and the epoch ends early when bad samples leave too few', async () => {
  const { batches } = await run({ workers: 1, dropLast: true }, [[0, 0]]);
  // 11 samples promise 3 full batches; 8 good ones make 2, the second marked last.
  assert.deepEqual(batches.map((b) => [b.size, b.last]), [[3, false], [3, true]]);
});

test('without skipBad a bad image stops the epoch with an error naming the file', async () => {
  const loader = await DataLoader.create({ ...common, skipBad: false, shuffle: false, workers: 1 });
  const seen: number[] = [];
  try {
    await assert.rejects(async () => {
      for await (const b of loader.epoch(0)) seen.push(...b.sampleIndices);
    }, /img2\.jpg: cannot decode image: .*premature end of JPEG/i);
  } finally {
    await loader.close();
  }
  assert.deepEqual(seen, [], 'the batch holding the bad image is not handed out');
});
