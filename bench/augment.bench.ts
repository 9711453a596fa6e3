// Data pipeline speed: decode, the tutorial's training augmentation and the evaluation transform
// on a VOC-sized (500x375) JPEG, shapes-dataset generation, and reading it back with the VOC reader.
// Side by side: the PyTorch tutorial's own transform (bench/augment_tutorial.py: PIL + torchvision,
// one thread) on the same image in the same run, when python3 with torch and torchvision is there.
// Prints one JSON object. Times are milliseconds per image on one thread, best of 5 rounds: `*_ms`
// wall-clock, and for the synchronous steps `cpu_ms` the process CPU time (steadier on a shared machine).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeImage } from '../src/io/image.js';
import { evalTransform, photometricDistort, toPlanar, trainTransform, type Targets } from '../src/data/augment.js';
import { generateShapesDataset, renderScene } from '../src/data/synthetic.js';
import { loadDataset } from '../src/data/dataset.js';
import { Random } from '../src/data/random.js';

const cpuMs: Record<string, number> = {};

interface TorchTimes {
  train_ms: number;
  eval_ms: number;
  cpu_ms: { train_ms: number; eval_ms: number };
}

/** Milliseconds per call: the best of 5 rounds of n calls (a shared machine only ever adds time). */
function perCall(name: string, n: number, f: (i: number) => void): number {
  for (let i = 0; i < Math.min(10, n); i++) f(i);
  let wall = Infinity, cpu = Infinity;
  for (let round = 0; round < 5; round++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) f(i);
    const c = process.cpuUsage(c0);
    wall = Math.min(wall, (performance.now() - t0) / n);
    cpu = Math.min(cpu, (c.user + c.system) / 1000 / n);
  }
  cpuMs[name] = +cpu.toFixed(2);
  return +wall.toFixed(2);
}

const dir = mkdtempSync(join(tmpdir(), 'ssd-bench-data-'));
try {
  const scene = renderScene(1, { size: [500, 500], objects: [3, 6] });
  const file = join(dir, 'voc-sized.jpg');
  await sharp(scene.rgb, { raw: { width: scene.width, height: scene.height, channels: 3 } }).resize(500, 375, { fit: 'fill' }).jpeg({ quality: 90 }).toFile(file);
  let t0 = performance.now();
  for (let i = 0; i < 30; i++) await decodeImage(file);
  const decodeMs = (performance.now() - t0) / 30;
  const img = await decodeImage(file);
  const target: Targets = { boxes: Float32Array.from([20, 30, 200, 300, 250, 80, 480, 360, 100, 100, 160, 170]), labels: Int32Array.from([1, 2, 3]), difficult: new Uint8Array(3) };
  const batch = new Float32Array(8 * 3 * 300 * 300);
  const rng = new Random(0);
  const planar = toPlanar(img);
  const result = {
    bench: 'augment',
    image: '500x375 JPEG -> 300x300',
    decode_ms: +decodeMs.toFixed(2),
    to_planar_ms: perCall('to_planar', 30, () => toPlanar(img, planar.data)),
    photometric_all_four_ms: perCall('photometric_all_four', 20, () => photometricDistort(planar, rng, 1)),
    train_transform_ms: perCall('train_transform', 60, (i) => trainTransform(img, target, rng, batch, (i % 8) * 270000)),
    eval_transform_ms: perCall('eval_transform', 30, (i) => evalTransform(img, target, batch, (i % 8) * 270000)),
    render_scene_256_ms: perCall('render_scene_256', 30, (i) => renderScene(100 + i)),
    generate_images_per_s: 0,
    voc_read_samples_per_s: 0,
    cpu_ms: cpuMs,
    pytorch_tutorial_ms: null as null | TorchTimes,
    /** PyTorch's CPU time over ours, per image (above 1: we are faster). */
    speedup_vs_pytorch_cpu: null as null | { train: number; eval: number },
  };
  const script = fileURLToPath(new URL('./augment_tutorial.py', import.meta.url));
  for (const python of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(python, [script, file, '20'], { encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) continue;
    const torch = JSON.parse(r.stdout.trim().split('\n').pop()!) as TorchTimes;
    result.pytorch_tutorial_ms = torch;
    result.speedup_vs_pytorch_cpu = {
      train: +(torch.cpu_ms.train_ms / cpuMs.train_transform).toFixed(2),
      eval: +(torch.cpu_ms.eval_ms / cpuMs.eval_transform).toFixed(2),
    };
    break;
  }
  const images = 300;
  const summary = await generateShapesDataset(join(dir, 'shapes'), { images, seed: 0 });
  result.generate_images_per_s = Math.round(images / summary.seconds);
  t0 = performance.now();
  const d = await loadDataset(join(dir, 'shapes'), { split: 'trainval' });
  result.voc_read_samples_per_s = Math.round(d.samples.length / ((performance.now() - t0) / 1000));
  console.log(JSON.stringify(result));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
