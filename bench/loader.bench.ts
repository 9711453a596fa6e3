// Data loader throughput: VOC-sized JPEGs (500x375, a few objects each) decoded, augmented as the
// tutorial trains (photometric, expand, crop, flip, resize 300) and matched to the 8732 SSD300 priors,
// in batches of 8. Prints one JSON object: images/second for 0 (inline), 1 and 2 worker threads.
// The SSD300 training step consumes ~0.55 images/s (PyTorch CPU, batch 8); the loader must give >= 3x.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { generatePriors, SSD300_PRIORS } from '../src/boxes/priors.js';
import { DataLoader, type LoaderSample } from '../src/data/loader.js';
import { Random } from '../src/data/random.js';

const N = 48;
const dir = mkdtempSync(join(tmpdir(), 'ssd-loader-bench-'));
const samples: LoaderSample[] = [];
const rng = new Random(1);
for (let i = 0; i < N; i++) {
  const w = 500, h = 375;
  const raw = new Uint8Array(w * h * 3);
  for (let k = 0; k < raw.length; k++) raw[k] = (Math.sin(k * 0.001 + i) * 100 + 128 + rng.int(0, 20)) | 0;
  const path = join(dir, `${i}.jpg`);
  writeFileSync(path, await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 }).toBuffer());
  const n = 1 + (i % 4);
  const boxes = new Float32Array(4 * n);
  for (let j = 0; j < n; j++) {
    const x = rng.uniform(0, w - 120), y = rng.uniform(0, h - 100);
    boxes.set([x, y, x + rng.uniform(30, 120), y + rng.uniform(30, 100)], 4 * j);
  }
  samples.push({ id: String(i), imagePath: path, boxes, labels: new Int32Array(n).fill(1 + (i % 20)), difficult: new Uint8Array(n) });
}
const priors = generatePriors(SSD300_PRIORS);

async function measure(workers: number): Promise<number> {
  const loader = await DataLoader.create({ samples, batchSize: 8, priors, workers, seed: 1, prefetch: 3 });
  // Warm-up epoch (JIT, sharp's first decode), then two timed epochs.
  for await (const _ of loader.epoch(0)) void _;
  const t0 = performance.now();
  let images = 0;
  for (let e = 1; e <= 2; e++) for await (const b of loader.epoch(e)) images += b.size;
  const seconds = (performance.now() - t0) / 1000;
  await loader.close();
  return images / seconds;
}

const result: Record<string, unknown> = { bench: 'loader', cores: availableParallelism(), image: '500x375 JPEG', batch: 8, augment: true, matched_priors: priors.length / 4 };
for (const w of [0, 1, 2]) result[`images_per_s_workers_${w}`] = Number((await measure(w)).toFixed(2));
result.ssd300_step_consumes_images_per_s = 0.55;
result.ratio_2_workers = Number(((result.images_per_s_workers_2 as number) / 0.55).toFixed(1));
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify(result));
