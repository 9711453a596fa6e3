// The model family's speed side by side with PyTorch, in one run: for each model, training images per second
// (SGD steps of forward + MultiBox loss + backward + update at each batch size, after `--warmup` steps on both
// sides: our first steps pay page faults while the C library's allocator settles on the per-step output copies,
// so the default of 10 measures the steady state a training run spends its hours in) and
// inference latency (the network alone at batch 1, mean of 5 runs after a warm-up), ours then PyTorch's
// (bench/models_pytorch.py with /usr/bin/python3), never both at once. The PyTorch side of ssd-tiny and
// ssdlite320-mobilenetv2 is an exact twin of ours (same layers, parameter names and counts, forward and loss:
// bench/twin-parity.ts checks it), trained with our MultiBox loss on given targets and our SGD settings;
// ssdlite320-mobilenetv2 gets a second PyTorch line, torchvision's ssdlite320_mobilenet_v3_large (a related
// network, not a twin), and ssd300 is compared with torchvision's ssd300_vgg16, both as backbone + head with the
// same loss and optimizer. torchvision has no SSD512. Each model's `arithmetic` sets its step's multiply-accumulates
// against the fastest matrix product ONNX Runtime runs here (bench/arithmetic-rate.ts), PyTorch's side being its
// first line; `--bound` adds the layerwise bound (minutes: it times every product's shape). Prints one JSON
// object, and a markdown table on stderr.
// Usage: node --import tsx bench/models.bench.ts [--models ssd-tiny,ssdlite320-mobilenetv2] [--batches 8,32]
//        [--threads 2] [--steps 3] [--warmup 10] [--repeat 1] [--bound]   (--repeat N: ours and PyTorch alternate N times, best of each kept)
// Default batches per model: 8 (ssd-tiny, ssdlite), 2 (ssd300), 1 (ssd512: ~270 GMAC per image per step).
import { spawnSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { InferenceRunner } from '../src/graph/index.js';
import { initWeights, type Weights } from '../src/nn/layers.js';
import { modelEntry } from '../src/nn/models/index.js';
import { modelStats } from '../src/nn/stats.js';
import type { SSDNetwork } from '../src/nn/ssd.js';
import { StepSession } from '../src/train/session.js';
import { arithmeticRate, layerwiseBound, sgemmPeakGflops } from './arithmetic-rate.js';
import { countFlag } from './count-flag.js';
import { syntheticBatch } from './synthetic-batch.js';

const { values } = parseArgs({ options: { models: { type: 'string' }, batches: { type: 'string' }, batch: { type: 'string' }, threads: { type: 'string' }, steps: { type: 'string' }, warmup: { type: 'string' }, repeat: { type: 'string' }, bound: { type: 'boolean' } }, strict: true });
const names = (values.models ?? 'ssd-tiny,ssdlite320-mobilenetv2,ssd300,ssd512').split(',');
const DEFAULT_BATCH: Record<string, number> = { 'ssd-tiny': 8, 'ssdlite320-mobilenetv2': 8, ssd300: 2, ssd512: 1 };
const batchesOf = (name: string): number[] => (values.batches ?? values.batch ?? String(DEFAULT_BATCH[name] ?? 8)).split(',').map(Number);
const threads = Number(values.threads ?? availableParallelism());
const steps = Number(values.steps ?? 3);
const warmup = countFlag('warmup', values.warmup, 10);
const repeat = countFlag('repeat', values.repeat, 1);
const python = process.env.SSD_PYTHON ?? '/usr/bin/python3';
const script = join(dirname(fileURLToPath(import.meta.url)), 'models_pytorch.py');
/** The PyTorch networks each model is timed against: the twin (or nearest torchvision model) first. */
const TORCH: Record<string, string[]> = {
  'ssd-tiny': ['ssd-tiny'],
  'ssdlite320-mobilenetv2': ['ssdlite320-mobilenetv2', 'ssdlite320_mobilenet_v3_large'],
  ssd300: ['ssd300'],
};

interface Timing {
  train_images_per_s: number;
  train_step_s: number;
}

async function trainOurs(net: SSDNetwork, weights: Weights, batch: number): Promise<Timing & { session_create_s: number }> {
  const feed = syntheticBatch(net, batch);
  let t0 = performance.now();
  const session = await StepSession.create(net, weights, batch, { threads });
  const sessionS = (performance.now() - t0) / 1000;
  try {
    for (let i = 0; i < warmup; i++) await session.step(feed, 1e-4);
    t0 = performance.now();
    for (let i = 0; i < steps; i++) await session.step(feed, 1e-4);
    const stepS = (performance.now() - t0) / 1000 / steps;
    return { train_images_per_s: batch / stepS, train_step_s: stepS, session_create_s: sessionS };
  } finally {
    await session.release();
  }
}

async function inferOurs(net: SSDNetwork, weights: Weights): Promise<number> {
  const runner = await InferenceRunner.create(net.forwardGraph(weights, { norm: 'eval' }).graph, new Map(), { threads });
  try {
    const one = { images: { data: syntheticBatch(net, 1).images, dims: [1, 3, net.inputSize.height, net.inputSize.width], dtype: 'float32' as const } };
    await runner.run(one);
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) await runner.run(one);
    return (performance.now() - t0) / 1000 / 5;
  } finally {
    await runner.release();
  }
}

interface TorchResult {
  model: string;
  parameters: number;
  buffers: number;
  priors: number;
  train: Record<string, Timing>;
  inference_s_per_image: number;
}

function torch(model: string, batches: number[]): TorchResult | { error: string } {
  const args = [script, 'time', model, '--batches', batches.join(','), '--threads', String(threads), '--steps', String(steps), '--warmup', String(warmup)];
  const r = spawnSync(python, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  const line = r.stdout?.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  return r.status === 0 && line ? (JSON.parse(line) as TorchResult) : { error: `${python} ${args.join(' ')} failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-2).join(' ')}` };
}

const results: Record<string, unknown> = {};
const rows: string[] = [];
const loadBefore = loadavg()[0];
const fmt = (v: number | null | undefined, digits = 3): string => (v === null || v === undefined ? '-' : v.toPrecision(digits));
/** Keeps the better of two timings: more images per second, less time per image (see --repeat). */
function best<T extends { train: Record<string, Timing>; inference_s_per_image: number }>(a: T | undefined, b: T): T {
  if (!a) return b;
  const train = { ...a.train };
  for (const [k, v] of Object.entries(b.train)) if (!train[k] || v.train_images_per_s > train[k]!.train_images_per_s) train[k] = v;
  return { ...a, train, inference_s_per_image: Math.min(a.inference_s_per_image, b.inference_s_per_image) };
}

const peak = await sgemmPeakGflops(threads);
for (const name of names) {
  const net = modelEntry(name).build(21);
  const stats = modelStats(net);
  const batches = batchesOf(name);
  const weights = initWeights(net.parameters(), 0);
  // --repeat N alternates ours and PyTorch's N times and keeps each side's best figures (a load spike on the
  // shared machine then hurts neither side); `runs` lists every run's training images per second.
  let ours: { train: Record<string, Timing & { session_create_s: number }>; inference_s_per_image: number } | undefined;
  const bestTorch: Record<string, TorchResult | { error: string }> = {};
  const runs: Record<string, Record<string, number[]>> = { ours: {} };
  for (let r = 0; r < repeat; r++) {
    const train: Record<string, Timing & { session_create_s: number }> = {};
    for (const b of batches) {
      train[String(b)] = await trainOurs(net, weights, b);
      (runs.ours![String(b)] ??= []).push(train[String(b)]!.train_images_per_s);
    }
    ours = best(ours, { train, inference_s_per_image: await inferOurs(net, weights) });
    for (const torchName of TORCH[name] ?? []) {
      const t = torch(torchName, batches);
      const before = bestTorch[torchName];
      bestTorch[torchName] = 'error' in t ? t : before && !('error' in before) ? best(before, t) : t;
      if (!('error' in t)) for (const b of batches) ((runs[torchName] ??= {})[String(b)] ??= []).push(t.train[String(b)]!.train_images_per_s);
    }
  }
  const train = ours!.train;
  const pytorch: Record<string, unknown> = {};
  for (const torchName of TORCH[name] ?? []) {
    const t = bestTorch[torchName]!;
    const ratios =
      'error' in t
        ? null
        : {
            train_images_per_s: Object.fromEntries(batches.map((b) => [String(b), train[String(b)]!.train_images_per_s / t.train[String(b)]!.train_images_per_s])),
            inference_s_per_image: ours!.inference_s_per_image / t.inference_s_per_image,
          };
    pytorch[torchName] = { ...t, ratio_ours_over_pytorch: ratios };
    for (const b of batches) {
      const theirs = 'error' in t ? undefined : t.train[String(b)];
      const twin = torchName === name ? 'twin' : 'torchvision, not a twin';
      rows.push(
        `| ${name} | ${torchName} (${twin}) | ${b} | ${fmt(train[String(b)]!.train_images_per_s)} | ${fmt(theirs?.train_images_per_s)} | ${fmt(ratios?.train_images_per_s[String(b)], 2)} | ${fmt(ours!.inference_s_per_image * 1000)} | ${fmt('error' in t ? null : t.inference_s_per_image * 1000)} | ${fmt(ratios?.inference_s_per_image, 2)} |`,
      );
    }
  }
  if (!TORCH[name]) for (const b of batches) rows.push(`| ${name} | - | ${b} | ${fmt(train[String(b)]!.train_images_per_s)} | - | - | ${fmt(ours!.inference_s_per_image * 1000)} | - | - |`);
  const first = TORCH[name]?.[0];
  const firstTorch = first ? bestTorch[first] : undefined;
  const arithmetic: Record<string, unknown> = { pytorch_model: first ?? null };
  for (const b of batches) {
    const theirs = firstTorch && !('error' in firstTorch) ? firstTorch.train[String(b)]!.train_step_s : null;
    const bound = values.bound ? await layerwiseBound(net, b, threads, peak.gflops) : null;
    arithmetic[String(b)] = arithmeticRate(stats.trainGmac, b, train[String(b)]!.train_step_s, theirs, peak, bound);
  }
  results[name] = { batches, parameters: stats.parameters, buffers: stats.buffers, gmac: stats.gmac, train_gmac: stats.trainGmac, priors: stats.priors, ours, pytorch: TORCH[name] ? pytorch : 'torchvision has no such model', arithmetic, train_images_per_s_runs: runs };
}
console.log(JSON.stringify({ bench: 'models', threads, steps, warmup, repeat, load_average: [loadBefore, loadavg()[0]], models: results }, null, 2));
console.error(
  [
    '| model | PyTorch | batch | ours: train img/s | PyTorch: train img/s | ratio | ours: inference ms (batch 1) | PyTorch: ms | ratio (ours/PyTorch time) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n'),
);
