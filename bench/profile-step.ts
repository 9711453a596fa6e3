// Where a training step's time goes: an ONNX Runtime profile of our step (forward, MultiBox loss, backward,
// momentum update; the session StepSession opens, profiling switched on) summed per op type, per category
// (conv / batch norm / activation / ... x forward / backward / optimizer) and per layer, with the time outside the
// kernels; and the PyTorch twin's step under torch.profiler (bench/models_pytorch.py profile), summed per op and
// per the same categories. Times are milliseconds per step, the mean over the profiled steps after `--warmup` steps
// (default 10: our first steps pay page faults while the allocator settles on the per-step output copies).
// Prints one JSON object on stdout and short tables on stderr.
// Usage: node --import tsx bench/profile-step.ts --model ssd-tiny [--batch 8] [--threads 2] [--steps 2] [--warmup 10] [--no-torch]
//        [--keep-profile FILE]   (FILE: a copy of ONNX Runtime's raw profile, for chrome://tracing or Perfetto)
//
// Node names carry the layer they belong to (`<module>/Conv_12`, `<module>/grad/Mul_345`, see ConvBnAct.build and
// gradients()); the momentum update's nodes are the training graph's unscoped nodes after the gradients.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { buildTrainingGraph, nchwcBlock, readProfile, SGD } from '../src/graph/index.js';
import { HEAD_OUTPUTS } from '../src/nn/heads.js';
import { initWeights } from '../src/nn/layers.js';
import { modelEntry } from '../src/nn/models/index.js';
import type { SSDNetwork } from '../src/nn/ssd.js';
import { StepSession } from '../src/train/session.js';
import { countFlag } from './count-flag.js';
import { syntheticBatch } from './synthetic-batch.js';

const { values } = parseArgs({
  options: { model: { type: 'string' }, batch: { type: 'string' }, threads: { type: 'string' }, steps: { type: 'string' }, warmup: { type: 'string' }, 'no-torch': { type: 'boolean' }, 'keep-profile': { type: 'string' } },
  strict: true,
});
const modelName = values.model ?? 'ssd-tiny';
const batch = Number(values.batch ?? 8);
const threads = Number(values.threads ?? 2);
const steps = Number(values.steps ?? 2);
const warmup = countFlag('warmup', values.warmup, 10);
const python = process.env.SSD_PYTHON ?? '/usr/bin/python3';
const script = join(dirname(fileURLToPath(import.meta.url)), 'models_pytorch.py');
/** The PyTorch network each model is profiled against (its twin where there is one). */
const TORCH: Record<string, string> = { 'ssd-tiny': 'ssd-tiny', 'ssdlite320-mobilenetv2': 'ssdlite320-mobilenetv2', ssd300: 'ssd300' };

/** A batch-norm layer's running mean: `<layer>.running_mean`. */
const RUNNING_MEAN = '.running_mean';

type Phase = 'forward' | 'backward' | 'optimizer' | 'ort';
/** What a layer is, for the categories both sides are summed by. */
type Kind = 'conv' | 'batchnorm' | 'activation' | 'residual add' | 'layout' | 'loss' | 'optimizer' | 'other';

interface NodeInfo {
  op: string;
  phase: Phase;
  /** The innermost scope ('' when unscoped). */
  layer: string;
}

/** Node name -> phase and layer, from the training graph the session runs (built again here: names are deterministic). */
function nodeTable(net: SSDNetwork, weights: Map<string, Float32Array>, block: number): Map<string, NodeInfo> {
  // What StepSession.create builds with its defaults (the nodes of a convolution lowered to NCHWc kernels are named
  // after it: `<conv node>.nchwc_<part>`).
  const { graph, terms } = net.lossGraph(weights, { batch });
  const tg = buildTrainingGraph(graph, terms.loss, { optimizer: new SGD({ momentum: 0.9, weightDecay: 5e-4 }), lrMultipliers: { weight: 1, bias: 2 }, parameterStep: 'caller', gradients: { nchwcBlock: block } });
  const forwardCount = graph.nodes.length;
  const table = new Map<string, NodeInfo>();
  tg.nodes.forEach((n, i) => {
    const parts = n.name.split('/');
    parts.pop();
    const backward = parts[parts.length - 1] === 'grad';
    if (backward) parts.pop();
    const phase: Phase = i < forwardCount ? 'forward' : backward ? 'backward' : 'optimizer';
    table.set(n.name, { op: n.op, phase, layer: parts[parts.length - 1] ?? '' });
  });
  return table;
}

/** A classifier of our layers, from the network's parameters: conv modules (and the scopes that run sibling convs
 *  as one Conv), batch norms, their activations. */
function kindOf(net: SSDNetwork, table: ReadonlyMap<string, NodeInfo>): (layer: string, phase: Phase) => Kind {
  const specs = net.parameters();
  const norms = new Set(specs.filter((s) => s.buffer && s.name.endsWith(RUNNING_MEAN)).map((s) => s.name.slice(0, -RUNNING_MEAN.length)));
  const convs = new Set(specs.filter((s) => s.name.endsWith('.weight') && s.shape.length === 4).map((s) => s.name.slice(0, -'.weight'.length)));
  for (const n of table.values()) if (n.phase === 'forward' && n.op === 'Conv') convs.add(n.layer);
  return (layer, phase) => {
    if (phase === 'optimizer') return 'optimizer';
    if (layer === 'loss') return 'loss';
    if (layer === HEAD_OUTPUTS) return 'layout';
    if (convs.has(layer)) return 'conv';
    if (norms.has(layer)) return 'batchnorm';
    if (layer.endsWith('.2') && convs.has(`${layer.slice(0, -2)}.0`)) return 'activation';
    if (layer && specs.some((s) => s.name.startsWith(`${layer}.conv.`))) return 'residual add';
    return 'other';
  };
}

/** What kind of convolution each conv module of the network is: depthwise, 1x1, or k x k (dense). */
function convTypes(net: SSDNetwork): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of net.parameters()) {
    if (!s.name.endsWith('.weight') || s.shape.length !== 4) continue;
    const [, inPerGroup, kh, kw] = s.shape as [number, number, number, number];
    out.set(s.name.slice(0, -'.weight'.length), inPerGroup === 1 && kh > 1 ? `depthwise ${kh}x${kw}` : `${kh}x${kw}`);
  }
  return out;
}

/** The conv + BN + activation unit a layer belongs to (`x.conv.1.0` -> `x.conv.1`), else the layer. */
function unitOf(layer: string, kind: Kind): string {
  return (kind === 'conv' || kind === 'batchnorm' || kind === 'activation') && /\.[012]$/.test(layer) ? layer.slice(0, -2) : layer;
}

/** The block a layer belongs to: its name through the first numeric segment after the first (`backbone.features.3`). */
function blockOf(layer: string): string {
  const parts = layer.split('.');
  const i = parts.findIndex((p, k) => k > 0 && /^\d+$/.test(p));
  return i < 0 ? layer : parts.slice(0, i + 1).join('.');
}

const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
const round = (v: number) => Math.round(v * 1000) / 1000;
const sorted = (m: Map<string, number>, scale: number) =>
  Object.fromEntries([...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, round(v * scale)]));

async function profileOurs(net: SSDNetwork): Promise<Record<string, unknown>> {
  const weights = initWeights(net.parameters(), 0);
  const table = nodeTable(net, weights, await nchwcBlock());
  const kind = kindOf(net, table);
  const convType = convTypes(net);
  const dir = mkdtempSync(join(tmpdir(), 'ssd-profile-'));
  try {
    // The runtime takes no profiling option: wrap the session factory while StepSession opens its session, so the
    // profile is of exactly the session training runs; and time each run of it from here.
    const factory = ort.InferenceSession.create;
    let session: ort.InferenceSession | undefined;
    const runWall: number[] = [];
    ort.InferenceSession.create = (async (bytes: Uint8Array, options: ort.InferenceSession.SessionOptions) => {
      const s = await factory.call(ort.InferenceSession, bytes, { ...options, enableProfiling: true, profileFilePrefix: join(dir, 'step') });
      const run = s.run.bind(s);
      s.run = (async (...args: Parameters<typeof run>) => {
        const t0 = performance.now();
        const out = await run(...args);
        runWall.push(performance.now() - t0);
        return out;
      }) as typeof s.run;
      session = s;
      return s;
    }) as typeof factory;
    let stepSession: StepSession;
    try {
      stepSession = await StepSession.create(net, weights, batch, { threads });
    } finally {
      ort.InferenceSession.create = factory;
    }
    const feed = syntheticBatch(net, batch);
    const stepWall: number[] = [];
    for (let i = 0; i < warmup + steps; i++) {
      const t0 = performance.now();
      await stepSession.step(feed, 1e-4);
      stepWall.push(performance.now() - t0);
    }
    await session!.endProfiling();
    await stepSession.release();
    // The same steps in a session without profiling (the profiler's own cost per kernel is not the step's).
    const plain = await StepSession.create(net, weights, batch, { threads });
    const plainWall: number[] = [];
    for (let i = 0; i < warmup + steps; i++) {
      const t0 = performance.now();
      await plain.step(feed, 1e-4);
      plainWall.push(performance.now() - t0);
    }
    await plain.release();
    const { file, events } = readProfile(dir, 'step');
    if (values['keep-profile']) copyFileSync(file, values['keep-profile']);

    const runs = events.filter((e) => e.name === 'model_run').sort((a, b) => a.ts - b.ts);
    const executors = events.filter((e) => e.name === 'SequentialExecutor::Execute').sort((a, b) => a.ts - b.ts);
    const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
    if (runs.length !== warmup + steps) throw new Error(`profile-step: expected ${warmup + steps} runs in the profile, found ${runs.length}`);
    const byOp = new Map<string, number>();
    const byOpPhase = new Map<string, number>();
    const byCategory = new Map<string, number>();
    const byLayer = new Map<string, number>();
    const byLayerOp = new Map<string, number>();
    const byCategoryOp = new Map<string, number>();
    const byConvType = new Map<string, number>();
    const byUnit = new Map<string, number>();
    const byBlock = new Map<string, number>();
    const calls = new Map<string, number>();
    const callsOpPhase = new Map<string, number>();
    const unmatched = new Map<string, number>();
    let kernelUs = 0;
    for (const run of runs.slice(warmup)) {
      for (const k of kernels) {
        if (k.ts < run.ts || k.ts > run.ts + run.dur) continue;
        const name = k.name.slice(0, -'_kernel_time'.length);
        const info = table.get(name.replace(/\.nchwc_\w+$/, ''));
        const op = k.args?.op_name ?? info?.op ?? '?';
        const phase: Phase = info?.phase ?? 'ort';
        if (!info) add(unmatched, `${op} ${name}`, k.dur);
        const layer = info?.layer ?? '';
        const kd = info ? kind(layer, phase) : 'other';
        kernelUs += k.dur;
        add(byOp, op, k.dur);
        add(calls, op, 1);
        add(byOpPhase, `${op} ${phase}`, k.dur);
        add(callsOpPhase, `${op} ${phase}`, 1);
        const category = kd === 'optimizer' ? kd : `${kd} ${phase}`;
        add(byCategory, category, k.dur);
        add(byCategoryOp, `${category}: ${op}`, k.dur);
        if (kd === 'conv') add(byConvType, `${convType.get(layer) ?? 'stacked siblings'} ${phase}`, k.dur);
        if (phase === 'forward' || phase === 'backward') {
          const l = layer || '(unscoped)';
          add(byLayer, `${l} ${phase}`, k.dur);
          add(byLayerOp, `${l} ${phase} ${op}`, k.dur);
          add(byUnit, unitOf(l, kd), k.dur);
          add(byBlock, blockOf(l), k.dur);
        }
      }
    }
    const n = steps;
    const perStep = 1 / n / 1000; // us summed over the steps -> ms per step
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const stepMs = mean(stepWall.slice(warmup));
    const runMs = mean(runWall.slice(warmup));
    const modelRunMs = mean(runs.slice(warmup).map((r) => r.dur)) / 1000;
    const executorMs = mean(executors.slice(warmup).map((r) => r.dur)) / 1000;
    const kernelMs = kernelUs * perStep;
    return {
      step_ms_without_profiler: round(mean(plainWall.slice(warmup))),
      step_ms: round(stepMs),
      session_run_ms: round(runMs),
      ort_model_run_ms: round(modelRunMs),
      ort_executor_ms: round(executorMs),
      kernel_ms: round(kernelMs),
      outside_kernels_ms: {
        total: round(runMs - kernelMs),
        between_kernels_in_executor: round(executorMs - kernelMs),
        ort_run_outside_executor: round(modelRunMs - executorMs),
        node_binding: round(runMs - modelRunMs),
        parameter_update_in_js: round(stepMs - runMs),
      },
      by_category_ms: sorted(byCategory, perStep),
      by_category_and_op_type_ms: sorted(byCategoryOp, perStep),
      conv_by_kernel_type_ms: sorted(byConvType, perStep),
      by_op_type_ms: sorted(byOp, perStep),
      calls_per_step: Object.fromEntries([...calls].map(([k, v]) => [k, v / n])),
      by_op_type_and_phase_ms: sorted(byOpPhase, perStep),
      calls_per_step_by_op_type_and_phase: Object.fromEntries([...callsOpPhase].map(([k, v]) => [k, v / n])),
      by_block_ms: sorted(byBlock, perStep),
      by_layer_unit_ms: sorted(byUnit, perStep),
      by_layer_ms: sorted(byLayer, perStep),
      by_layer_and_op_type_top_ms: Object.fromEntries(Object.entries(sorted(byLayerOp, perStep)).slice(0, 80)),
      nodes_not_in_our_graph_ms: sorted(unmatched, perStep),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The category of PyTorch time, on the same scale as ours, from the top op it ran under: the module's call in the
 * forward pass (aten::conv2d, aten::batch_norm, aten::hardtanh_, ...), the autograd function in the backward pass
 * (ConvolutionBackward0, ...). The twin's loss is its only user of elementwise arithmetic, log-softmax and sort.
 */
function torchKind(top: string, phase: string): Kind {
  if (phase === 'optimizer') return 'optimizer';
  if (phase === 'loss' || /LogSoftmax|NllLoss|Abs|Sub|Mul|Div|Sum|Gather|Index/.test(top)) return 'loss';
  if (/conv/i.test(top)) return 'conv';
  if (/batch_?norm/i.test(top)) return 'batchnorm';
  if (/hardtanh|relu|threshold|clamp/i.test(top)) return 'activation';
  if (/^aten::add$|^AddBackward/.test(top)) return 'residual add';
  if (/permute|reshape|view|cat|contiguous|clone|slice/i.test(top)) return 'layout';
  return 'other';
}

interface TorchProfile {
  phases_s: Record<string, number>;
  self_ms_total: number;
  ops: Array<{ op: string; top: string; phase: string; calls: number; self_ms: number }>;
}

function profileTorch(name: string): Record<string, unknown> {
  const args = [script, 'profile', name, '--batch', String(batch), '--threads', String(threads), '--warmup', String(warmup)];
  const r = spawnSync(python, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = r.stdout?.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) return { error: `${python} ${args.join(' ')} failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-2).join(' ')}` };
  const p = JSON.parse(line) as TorchProfile;
  const byOp = new Map<string, number>();
  const byTop = new Map<string, number>();
  const byOpPhase = new Map<string, number>();
  const byCategory = new Map<string, number>();
  const calls = new Map<string, number>();
  for (const o of p.ops) {
    add(byOp, o.op, o.self_ms);
    add(byTop, `${o.top} ${o.phase}`, o.self_ms);
    add(byOpPhase, `${o.op} ${o.phase}`, o.self_ms);
    add(calls, `${o.op} ${o.phase}`, o.calls);
    const phase = o.phase === 'loss' ? 'forward' : o.phase;
    const kd = torchKind(o.top, o.phase);
    add(byCategory, kd === 'optimizer' ? kd : `${kd} ${phase}`, o.self_ms);
  }
  return {
    step_ms_without_profiler: round(p.phases_s.step! * 1000),
    phases_ms_without_profiler: Object.fromEntries(Object.entries(p.phases_s).map(([k, v]) => [k, round(v * 1000)])),
    self_ms_total: round(p.self_ms_total),
    by_category_ms: sorted(byCategory, 1),
    by_op_ms: sorted(byOp, 1),
    by_op_and_phase_ms: sorted(byOpPhase, 1),
    calls_by_op_and_phase: Object.fromEntries(calls),
    by_top_op_and_phase_ms: sorted(byTop, 1),
  };
}

const net = modelEntry(modelName).build(21);
const ours = await profileOurs(net);
const torchName = TORCH[modelName];
const pytorch = values['no-torch'] || !torchName ? null : profileTorch(torchName);
console.log(JSON.stringify({ bench: 'profile-step', model: modelName, batch, threads, steps_profiled: steps, ours, pytorch_model: torchName ?? null, pytorch }, null, 2));

// Short tables: the top 10 of each.
const top = (m: unknown, k = 10): Array<[string, number]> => Object.entries((m ?? {}) as Record<string, number>).slice(0, k);
const lines: string[] = [`${modelName}, batch ${batch}, ${threads} threads: ms per training step`];
const o = ours as { step_ms_without_profiler: number; step_ms: number; kernel_ms: number; outside_kernels_ms: Record<string, number>; by_category_ms: unknown; by_op_type_ms: unknown; by_layer_unit_ms: unknown };
lines.push(`ours: step ${o.step_ms_without_profiler} (unprofiled), ${o.step_ms} (profiled), kernels ${o.kernel_ms}, outside kernels ${JSON.stringify(o.outside_kernels_ms)}`);
const t = pytorch as { step_ms_without_profiler?: number; self_ms_total?: number; by_category_ms?: unknown; by_op_ms?: unknown } | null;
if (t) lines.push(`PyTorch: step ${t.step_ms_without_profiler} (unprofiled), self time of all ops ${t.self_ms_total} (profiled)`);
const columns = (title: string, a: Array<[string, number]>, b: Array<[string, number]>) => {
  lines.push(`\n${title}`);
  for (let i = 0; i < Math.max(a.length, b.length); i++)
    lines.push(`  ${(a[i] ? `${a[i]![0]} ${a[i]![1].toFixed(1)}` : '').padEnd(48)}${b[i] ? `${b[i]![0]} ${b[i]![1].toFixed(1)}` : ''}`);
};
columns('by category: ours | PyTorch', top(o.by_category_ms, 12), top(t?.by_category_ms, 12));
columns('by op type: ours | PyTorch', top(o.by_op_type_ms), top(t?.by_op_ms));
columns('by layer (conv + BN + activation, forward + backward): ours', top(o.by_layer_unit_ms), []);
console.error(lines.join('\n'));
