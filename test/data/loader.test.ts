import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { generatePriors, SSD300_PRIORS } from '../../src/boxes/priors.js';
import { DataLoader, epochOrder, type Batch, type LoaderSample } from '../../src/data/loader.js';

let dir = '';
const samples: LoaderSample[] = [];
const priors = generatePriors(SSD300_PRIORS);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssd-loader-'));
  // 7 small images of different sizes, each with one or two filled rectangles as objects.
  for (let i = 0; i < 7; i++) {
    const w = 60 + 10 * i;
    const h = 50 + 7 * i;
    const raw = new Uint8Array(w * h * 3);
    for (let k = 0; k < raw.length; k++) raw[k] = (k * (i + 3)) % 251;
    const path = join(dir, `img${i}.png`);
    writeFileSync(path, await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer());
    const boxes = i % 2 ? new Float32Array([5, 6, w / 2, h / 2, w / 3, h / 4, w - 2, h - 1]) : new Float32Array([2, 3, w - 10, h - 5]);
    const labels = i % 2 ? new Int32Array([1, 2]) : new Int32Array([3]);
    samples.push({ id: `img${i}`, imagePath: path, boxes, labels, difficult: new Uint8Array(labels.length) });
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function collect(workers: number, opts: { seed?: number; shuffle?: boolean; augment?: boolean; start?: number; epochs?: number } = {}): Promise<Batch[]> {
  const loader = await DataLoader.create({ samples, batchSize: 3, inputSize: 96, priors, seed: opts.seed ?? 5, shuffle: opts.shuffle ?? true, augment: opts.augment ?? true, workers, prefetch: 2 });
  const out: Batch[] = [];
  try {
    for (let e = 0; e < (opts.epochs ?? 2); e++) for await (const b of loader.epoch(e, e === 0 ? opts.start ?? 0 : 0)) out.push(b);
  } finally {
    await loader.close();
  }
  return out;
}

function assertSameBatches(a: Batch[], b: Batch[], what: string): void {
  assert.equal(a.length, b.length, `${what}: batch count`);
  for (let i = 0; i < a.length; i++) {
    assert.deepEqual([a[i]!.epoch, a[i]!.index, a[i]!.size], [b[i]!.epoch, b[i]!.index, b[i]!.size], `${what}: batch ${i}`);
    assert.deepEqual(a[i]!.sampleIndices, b[i]!.sampleIndices, `${what}: batch ${i} samples`);
    assert.ok(Buffer.from(a[i]!.images.buffer).equals(Buffer.from(b[i]!.images.buffer)), `${what}: batch ${i} pixels differ`);
    assert.deepEqual(a[i]!.trueClasses, b[i]!.trueClasses, `${what}: batch ${i} classes`);
    assert.ok(Buffer.from(a[i]!.trueLocs!.buffer).equals(Buffer.from(b[i]!.trueLocs!.buffer)), `${what}: batch ${i} offsets differ`);
  }
}

let inlineRun: Promise<Batch[]> | undefined;
const inline = (): Promise<Batch[]> => (inlineRun ??= collect(0));

test('same seed gives the same batches with 0 or 3 workers', async () => {
  const ref = await inline();
  assert.equal(ref.length, 6, '7 samples in batches of 3 make 3 batches an epoch (last one short)');
  assert.deepEqual(ref.map((b) => b.size), [3, 3, 1, 3, 3, 1]);
  assertSameBatches(await collect(3), ref, '3 workers');
  const other = await collect(0, { seed: 6, epochs: 1 });
  assert.ok(!Buffer.from(other[0]!.images.buffer).equals(Buffer.from(ref[0]!.images.buffer)), 'another seed gives other batches');
});

test('batches have the graph input shapes and carry matched targets', async () => {
  const [b] = await collect(0, { epochs: 1, augment: false });
  const P = priors.length / 4;
  assert.equal(b!.images.length, 3 * 3 * 96 * 96);
  assert.equal(b!.trueClasses!.length, 3 * P);
  assert.equal(b!.trueLocs!.length, 3 * P * 4);
  for (let k = 0; k < 3; k++) {
    const s = samples[b!.sampleIndices[k]!]!;
    let positives = 0;
    const seen = new Set<bigint>();
    for (let p = 0; p < P; p++) {
      const c = b!.trueClasses![k * P + p]!;
      if (c > 0n) {
        positives++;
        seen.add(c);
      }
    }
    // Every object gets at least its best prior, with its own label.
    assert.ok(positives >= s.labels.length, `image ${k} has ${positives} positives for ${s.labels.length} objects`);
    assert.deepEqual([...seen].sort(), [...s.labels].map(BigInt).sort());
  }
});

test('each epoch is a permutation; no-shuffle keeps the given order', async () => {
  const a = epochOrder(100, 1, 0, true);
  const b = epochOrder(100, 1, 1, true);
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
  assert.notDeepEqual(a, b, 'epochs are shuffled differently');
  assert.deepEqual(epochOrder(100, 1, 0, true), a, 'the order depends on (seed, epoch) only');
  const plain = await collect(0, { shuffle: false, epochs: 1 });
  assert.deepEqual(plain.flatMap((x) => [...x.sampleIndices]), [0, 1, 2, 3, 4, 5, 6]);
});

test('starting mid-epoch gives the tail of the uninterrupted sequence', async () => {
  const full = await inline();
  const tail = await collect(1, { start: 1 });
  assertSameBatches(tail, full.slice(1), 'resumed');
});

test('an unreadable image is reported with its file name', async () => {
  const bad = [...samples, { id: 'broken', imagePath: join(dir, 'missing.jpg'), boxes: new Float32Array(0), labels: new Int32Array(0), difficult: new Uint8Array(0) }];
  const loader = await DataLoader.create({ samples: bad, batchSize: 8, priors, workers: 1, shuffle: false });
  try {
    await assert.rejects(async () => {
      for await (const _ of loader.epoch(0)) void _;
    }, /missing\.jpg: cannot decode image/);
  } finally {
    await loader.close();
  }
});
