// Checks that bench/models_pytorch.py's PyTorch twins are our networks: for each model, the same parameter and
// batch-norm buffer counts, the same forward pass in eval mode (our initial weights, batch-norm parameters and
// running statistics perturbed so that they matter, loaded into the twin by name) and the same MultiBox loss in
// training mode (batch statistics) on matched targets. Our side writes weights, images, targets and its outputs
// to a safetensors file; `models_pytorch.py check` loads it and compares. Prints one JSON object; exits 1 when a
// count differs or an error is above 1e-4.
// Usage: node --import tsx bench/twin-parity.ts [--models ssd-tiny,ssdlite320-mobilenetv2] [--batch 2]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { InferenceRunner, type TensorData } from '../src/graph/index.js';
import { writeSafetensors, type TensorToWrite } from '../src/io/safetensors.js';
import { Random } from '../src/data/random.js';
import { initWeights } from '../src/nn/layers.js';
import { modelEntry } from '../src/nn/models/index.js';
import { modelStats } from '../src/nn/stats.js';
import { syntheticBatch } from './synthetic-batch.js';

const { values } = parseArgs({ options: { models: { type: 'string' }, batch: { type: 'string' } }, strict: true });
const names = (values.models ?? 'ssd-tiny,ssdlite320-mobilenetv2').split(',');
const batch = Number(values.batch ?? 2);
const python = process.env.SSD_PYTHON ?? '/usr/bin/python3';
const script = join(dirname(fileURLToPath(import.meta.url)), 'models_pytorch.py');
const TOLERANCE = 1e-4;

/** Batch-norm scale, shift and running statistics moved off their initial 1, 0, 0, 1, so eval mode is tested. */
function perturbNorms(weights: Map<string, Float32Array>): void {
  const rng = new Random(7);
  const u = () => 2 * rng.next() - 1;
  for (const [name, v] of weights) {
    const bn = name.replace(/\.(running_mean|running_var|weight|bias)$/, '');
    if (!weights.has(`${bn}.running_mean`)) continue;
    if (name.endsWith('.running_var')) for (let i = 0; i < v.length; i++) v[i] = 1 + 0.5 * u();
    else if (name.endsWith('.weight')) for (let i = 0; i < v.length; i++) v[i] = 1 + 0.2 * u();
    else for (let i = 0; i < v.length; i++) v[i] = 0.1 * u();
  }
}

async function run(graph: Parameters<typeof InferenceRunner.create>[0], feeds: Record<string, TensorData>): Promise<Record<string, TensorData>> {
  const runner = await InferenceRunner.create(graph, new Map(), { threads: 2 });
  try {
    return await runner.run(feeds);
  } finally {
    await runner.release();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'ssd-twin-'));
const results: Record<string, unknown> = {};
let ok = true;
try {
  for (const name of names) {
    const net = modelEntry(name).build(21);
    if (!net.hasBatchNorm) throw new Error(`${name}: the twins are of networks with batch norm`);
    const stats = modelStats(net);
    const weights = initWeights(net.parameters(), 0);
    perturbNorms(weights);
    const b = syntheticBatch(net, batch);
    const { width, height } = net.inputSize;
    const images: TensorData = { data: b.images, dims: [batch, 3, height, width], dtype: 'float32' };
    const forward = await run(net.forwardGraph(weights, { norm: 'eval' }).graph, { images });
    const P = net.priorCount;
    const loss = await run(net.lossGraph(weights, { batch, norm: 'train' }).graph, {
      images,
      true_classes: { data: b.trueClasses, dims: [batch, P], dtype: 'int64' },
      true_offsets: { data: b.trueLocs, dims: [batch, P, 4], dtype: 'float32' },
    });
    const tensors = new Map<string, TensorToWrite>();
    for (const s of net.parameters()) tensors.set(`weights.${s.name}`, { shape: s.shape, data: weights.get(s.name)! });
    tensors.set('images', { shape: images.dims, data: b.images });
    tensors.set('true_classes', { shape: [batch, P], data: b.trueClasses });
    tensors.set('true_offsets', { shape: [batch, P, 4], data: b.trueLocs });
    for (const [k, v] of Object.entries({ ...forward, ...loss })) tensors.set(k, { shape: v.dims, data: v.data as Float32Array });
    const file = join(dir, `${name}.safetensors`);
    writeSafetensors(file, tensors);
    const r = spawnSync(python, [script, 'check', name, file], { encoding: 'utf8', maxBuffer: 1 << 24 });
    const line = r.stdout?.trim().split('\n').reverse().find((l) => l.startsWith('{'));
    if (r.status !== 0 || !line) throw new Error(`${python} ${script} check ${name} failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' ')}`);
    const twin = JSON.parse(line) as {
      parameters: number;
      buffers: number;
      priors: number;
      missing: string[];
      unexpected: string[];
      eval_locs_rel_l2: number;
      eval_scores_rel_l2: number;
      train_loss: Record<string, number>;
    };
    const l = twin.train_loss;
    const lossError = Math.abs(l.ours! - l.pytorch!) / Math.abs(l.pytorch!);
    const pass =
      twin.parameters === stats.parameters &&
      twin.buffers === stats.buffers &&
      twin.priors === stats.priors &&
      twin.missing.length === 0 &&
      twin.unexpected.length === 0 &&
      twin.eval_locs_rel_l2 < TOLERANCE &&
      twin.eval_scores_rel_l2 < TOLERANCE &&
      lossError < TOLERANCE &&
      l.positives_ours === l.positives_pytorch;
    ok &&= pass;
    results[name] = {
      pass,
      parameters: { ours: stats.parameters, pytorch: twin.parameters },
      buffers: { ours: stats.buffers, pytorch: twin.buffers },
      priors: { ours: stats.priors, pytorch: twin.priors },
      names_not_loaded: twin.missing,
      names_unknown_to_twin: twin.unexpected,
      eval_forward_rel_l2: { locs: twin.eval_locs_rel_l2, scores: twin.eval_scores_rel_l2 },
      train_loss: { ...l, rel_error: lossError },
    };
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify({ check: 'pytorch-twins', batch, tolerance: TOLERANCE, models: results }, null, 2));
process.exitCode = ok ? 0 : 1;
