// The model family's speed side by side with PyTorch, in one run: for each model, training images per second
// (SGD steps of forward + MultiBox loss + backward + update at `--batch`, after one warm-up step) and inference
// latency (batch 1, after one warm-up run), ours then PyTorch's (bench/models_pytorch.py with /usr/bin/python3:
// torchvision's ssd300_vgg16, ssdlite320_mobilenet_v3_large as the nearest to ssdlite320-mobilenetv2, and ssd-tiny
// written out in PyTorch; torchvision has no SSD512). Never both at once. Prints one JSON object.
// Usage: node --import tsx bench/models.bench.ts [--models ssd-tiny,ssdlite320-mobilenetv2] [--batch N] [--threads 2] [--steps 3]
// Default batch per model: 8 (ssd-tiny, ssdlite), 2 (ssd300), 1 (ssd512: ~270 GMAC per image per step).
import { spawnSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BoxCoder } from '../src/boxes/coder.js';
import { Matcher } from '../src/boxes/match.js';
import { generatePriors } from '../src/boxes/priors.js';
import { renderScene } from '../src/data/synthetic.js';
import { InferenceRunner } from '../src/graph/index.js';
import { initWeights } from '../src/nn/layers.js';
import { MODELS } from '../src/nn/models/index.js';
import { modelStats } from '../src/nn/stats.js';
import { matchBatch } from '../src/nn/targets.js';
import type { SSDNetwork } from '../src/nn/ssd.js';
import { StepSession } from '../src/train/session.js';

const { values } = parseArgs({ options: { models: { type: 'string' }, batch: { type: 'string' }, threads: { type: 'string' }, steps: { type: 'string' } }, strict: true });
const names = (values.models ?? 'ssd-tiny,ssdlite320-mobilenetv2,ssd300,ssd512').split(',');
const BATCH: Record<string, number> = { 'ssd-tiny': 8, 'ssdlite320-mobilenetv2': 8, ssd300: 2, ssd512: 1 };
const batchOf = (name: string): number => Number(values.batch ?? BATCH[name] ?? 8);
const threads = Number(values.threads ?? availableParallelism());
const steps = Number(values.steps ?? 3);
const python = process.env.SSD_PYTHON ?? '/usr/bin/python3';
const script = join(dirname(fileURLToPath(import.meta.url)), 'models_pytorch.py');
const TORCH: Record<string, string> = { 'ssd-tiny': 'ssd-tiny', ssd300: 'ssd300', 'ssdlite320-mobilenetv2': 'ssdlite320_mobilenet_v3_large' };

async function ours(net: SSDNetwork, batch: number): Promise<Record<string, number>> {
  const size = net.inputSize.width;
  const images = new Float32Array(batch * 3 * size * size);
  const objects = [];
  for (let k = 0; k < batch; k++) {
    const s = renderScene(k, { size });
    for (let c = 0; c < 3; c++) for (let p = 0; p < size * size; p++) images[(k * 3 + c) * size * size + p] = s.rgb[3 * p + c]! / 255 - 0.45;
    objects.push({ boxes: s.boxes.map((v) => v / size), labels: s.labels });
  }
  const t = matchBatch(new Matcher(new BoxCoder(generatePriors(net.priors))), objects);
  const weights = initWeights(net.parameters(), 0);
  let t0 = performance.now();
  const session = await StepSession.create(net, weights, batch, { threads });
  const sessionS = (performance.now() - t0) / 1000;
  const feed = { size: batch, images, trueClasses: t.classes.data as BigInt64Array, trueLocs: t.offsets.data as Float32Array };
  await session.step(feed, 1e-4);
  t0 = performance.now();
  for (let i = 0; i < steps; i++) await session.step(feed, 1e-4);
  const stepS = (performance.now() - t0) / 1000 / steps;
  await session.release();
  const runner = await InferenceRunner.create(net.forwardGraph(weights).graph, weights, { threads });
  const one = { images: { data: images.subarray(0, 3 * size * size), dims: [1, 3, size, size], dtype: 'float32' as const } };
  await runner.run(one);
  t0 = performance.now();
  for (let i = 0; i < 5; i++) await runner.run(one);
  const inferS = (performance.now() - t0) / 1000 / 5;
  await runner.release();
  return { train_images_per_s: batch / stepS, train_step_s: stepS, inference_s_per_image: inferS, session_create_s: sessionS };
}

const results: Record<string, unknown> = {};
const loadBefore = loadavg()[0];
for (const name of names) {
  const entry = MODELS.get(name);
  if (!entry) throw new Error(`unknown model '${name}'; known: ${[...MODELS.keys()].join(', ')}`);
  const net = entry.build(21);
  const stats = modelStats(net);
  const batch = batchOf(name);
  const mine = await ours(net, batch);
  let pytorch: Record<string, unknown> | null = null;
  const torchName = TORCH[name];
  if (torchName) {
    const r = spawnSync(python, [script, torchName, String(batch), String(threads), String(steps)], { encoding: 'utf8', maxBuffer: 1 << 24 });
    const line = r.stdout?.trim().split('\n').reverse().find((l) => l.startsWith('{'));
    pytorch = r.status === 0 && line ? (JSON.parse(line) as Record<string, unknown>) : { error: `${python} ${script} ${torchName} failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-2).join(' ')}` };
  }
  const ratio = (k: string): number | null => (pytorch && typeof pytorch[k] === 'number' ? mine[k]! / (pytorch[k] as number) : null);
  results[name] = {
    batch,
    parameters: stats.parameters,
    gmac: stats.gmac,
    priors: stats.priors,
    ours: mine,
    pytorch: pytorch ?? 'torchvision has no such model',
    ratio_ours_over_pytorch: pytorch ? { train_images_per_s: ratio('train_images_per_s'), inference_s_per_image: ratio('inference_s_per_image') } : null,
  };
}
console.log(JSON.stringify({ bench: 'models', threads, steps, load_average: [loadBefore, loadavg()[0]], models: results }, null, 2));
