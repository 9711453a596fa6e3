// The layers of the model family, each as its own ONNX graph, next to PyTorch's kernels on the same shapes in the
// same run (so both see the same machine load). For every distinct convolution of a model (dense, 1x1, strided,
// dilated, depthwise): the forward pass, the input gradient and the weight gradient in every formulation the
// gradient table knows and in the one it picks ('auto'), against aten.convolution_backward; for every distinct
// training-mode batch norm: forward and backward against native_batch_norm and its backward; for ReLU and ReLU6:
// the backward against threshold_backward / hardtanh_backward. Layers come from the networks' own graphs, so the
// shapes are the models' (at `--batch`), and totals weigh each shape by how often the model has it. A layer's
// formulations take turns run by run (best of each kept), so they are compared under the same load. Graphs are
// written as a training session writes them, depthwise convolutions on this machine's NCHWc kernels
// (src/graph/nchwc.ts) unless --no-nchwc.
// Usage: node --import tsx bench/graph-layers.bench.ts [--models ssd300,ssd-tiny,ssdlite320-mobilenetv2] [--batch 8]
//          [--threads 2] [--kinds conv,bn,act] [--layers <name substrings>] [--no-torch] [--no-nchwc]
// Prints one JSON object (and a line per layer on stderr).
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { GRADIENTS, Graph, nchwcBlock, numel, type ConvInputGradMethod, type ConvWeightGradMethod, type GraphNode, type Tensor } from '../src/graph/index.js';
import { placeholderWeights } from '../src/nn/layers.js';
import { buildNetwork, modelConfig } from '../src/nn/models/index.js';

const { values } = parseArgs({
  options: { models: { type: 'string' }, batch: { type: 'string' }, threads: { type: 'string' }, kinds: { type: 'string' }, layers: { type: 'string' }, 'no-torch': { type: 'boolean' }, 'no-nchwc': { type: 'boolean' } },
  strict: true,
});
const models = (values.models ?? 'ssd300,ssd-tiny,ssdlite320-mobilenetv2').split(',');
const batch = Number(values.batch ?? 8);
const threads = Number(values.threads ?? 2);
const kinds = new Set((values.kinds ?? 'conv,bn,act').split(','));
const only = values.layers?.split(',');
const withTorch = !values['no-torch'];
const block = values['no-nchwc'] ? 0 : await nchwcBlock();

interface ConvLayer {
  kind: 'conv';
  x: number[];
  w: number[];
  stride: number[];
  pad: number[];
  dilation: number[];
  groups: number;
  /** Whether its input gradient is needed (not for the first layer, whose input is the image). */
  needsInput: boolean;
}
interface NormLayer {
  kind: 'bn';
  x: number[];
  epsilon: number;
}
interface ActLayer {
  kind: 'act';
  x: number[];
  op: 'relu' | 'relu6';
}
type Layer = ConvLayer | NormLayer | ActLayer;

const ints = (n: GraphNode, k: string, d: number[]): number[] => {
  const a = n.attrs[k];
  return a && a.type === 'ints' ? a.value : d;
};

/** A model's distinct layers (by shape) with how many times each occurs, read off the graph training differentiates
 *  (the loss graph: training-mode batch norm, sibling head convs run as one). */
function layersOf(model: string): Map<string, { name: string; layer: Layer; count: number }> {
  const net = buildNetwork(modelConfig(model, Array.from({ length: 20 }, (_, i) => `c${i}`)));
  const graph = net.lossGraph(placeholderWeights(net.parameters()), { batch, norm: 'train' }).graph;
  const shape = (name: string): number[] => graph.tensor(name)!.shape as number[];
  const found = new Map<string, { name: string; layer: Layer; count: number }>();
  const add = (name: string, layer: Layer): void => {
    const key = JSON.stringify(layer);
    const seen = found.get(key);
    if (seen) seen.count++;
    else found.set(key, { name: `${model}:${name}`, layer, count: 1 });
  };
  for (const node of graph.nodes) {
    const scope = node.name.includes('/') ? node.name.slice(0, node.name.lastIndexOf('/')) : node.name;
    if (node.op === 'Conv' && kinds.has('conv')) {
      const w = shape(node.inputs[1]!);
      add(scope, {
        kind: 'conv',
        x: shape(node.inputs[0]!),
        w,
        stride: ints(node, 'strides', [1, 1]),
        pad: ints(node, 'pads', [0, 0, 0, 0]),
        dilation: ints(node, 'dilations', [1, 1]),
        groups: node.attrs.group?.type === 'int' ? node.attrs.group.value : 1,
        needsInput: node.inputs[0] !== 'images',
      });
    } else if (node.gradKey === 'BatchNormalizationTraining' && kinds.has('bn')) {
      const eps = node.attrs.epsilon;
      add(scope, { kind: 'bn', x: shape(node.inputs[0]!), epsilon: eps && eps.type === 'float' ? eps.value : 1e-5 });
    } else if ((node.op === 'Relu' || node.op === 'Clip') && kinds.has('act')) {
      add(scope, { kind: 'act', x: shape(node.inputs[0]!), op: node.op === 'Relu' ? 'relu' : 'relu6' });
    }
  }
  return found;
}

/** The best wall time (ms) of each run, after one untimed run each; the runs take turns, five rounds at most (at
 *  least two, more while under 1.5 s a run). */
async function time(runs: Record<string, () => Promise<unknown>>): Promise<Record<string, number>> {
  const names = Object.keys(runs);
  for (const name of names) await runs[name]!();
  const best: Record<string, number> = Object.fromEntries(names.map((n) => [n, Infinity]));
  let spent = 0;
  for (let i = 0; i < 5 && (i < 2 || spent < 1500 * names.length); i++) {
    for (const name of names) {
      const t0 = performance.now();
      await runs[name]!();
      const dt = performance.now() - t0;
      best[name] = Math.min(best[name]!, dt);
      spent += dt;
    }
  }
  return best;
}

const fill = (n: number): Float32Array => {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sin(i * 0.37);
  return a;
};

/** Times graphs whose inputs are filled with smooth values, outputs pre-allocated: the best run of each, the graphs
 *  taking turns (one run each per round), so that a change in the machine's load falls on all of them alike. */
async function timeGraphs(graphs: Record<string, Graph>): Promise<Record<string, number>> {
  const runs: Record<string, () => Promise<unknown>> = {};
  const sessions: ort.InferenceSession[] = [];
  for (const [name, g] of Object.entries(graphs)) {
    // No spinning: a session's idle threads would otherwise spin on the cores the next session runs on.
    const session = await ort.InferenceSession.create(g.toBytes({ nchwcBlock: block }), { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'basic', extra: { session: { intra_op: { allow_spinning: '0' } } } });
    sessions.push(session);
    const feeds: Record<string, ort.Tensor> = {};
    for (const t of g.inputs) {
      const dims = t.shape as number[];
      feeds[t.name] = new ort.Tensor('float32', fill(numel(dims)), dims);
    }
    const fetch: Record<string, ort.Tensor> = {};
    for (const o of g.outputs) {
      const dims = o.tensor.shape as number[];
      fetch[o.name] = new ort.Tensor('float32', new Float32Array(numel(dims)), dims);
    }
    runs[name] = () => session.run(feeds, fetch);
  }
  const best = await time(runs);
  for (const session of sessions) await session.release();
  return best;
}

const timeGraph = async (g: Graph): Promise<number> => (await timeGraphs({ g })).g!;

/** One convolution's forward, or its input or weight gradient in formulation `method`. */
function convGraph(l: ConvLayer, what: 'forward' | 'input' | 'weight', method = 'auto'): Graph {
  const g = new Graph('conv');
  const x = g.input('x', 'float32', l.x);
  const w = g.input('w', 'float32', l.w);
  const y = g.conv2d(x, w, undefined, { stride: l.stride as [number, number], pad: l.pad as [number, number, number, number], dilation: l.dilation as [number, number], groups: l.groups });
  let out: Tensor = y;
  if (what !== 'forward') {
    const dy = g.input('dy', 'float32', y.shape as number[]);
    const { node, nodeIndex } = g.origin(y);
    const [dx, dw] = GRADIENTS.Conv!({
      g,
      node: node!,
      nodeIndex,
      inputs: [x, w, null],
      outputs: [y],
      grads: [dy],
      conv: { convWeightGrad: (what === 'weight' ? method : 'auto') as ConvWeightGradMethod, convInputGrad: (what === 'input' ? method : 'auto') as ConvInputGradMethod, nchwcBlock: block },
    });
    out = what === 'input' ? dx! : dw!;
  }
  g.output(out, 'out');
  return g;
}

/** The output gradients of `node` (found by `pick`) from dy, by its own rule: no loss around it. */
function ruleGradients(g: Graph, pick: (n: GraphNode) => boolean, dy: Tensor): (Tensor | null)[] {
  const nodeIndex = g.nodes.findIndex(pick);
  const node = g.nodes[nodeIndex]!;
  const rule = GRADIENTS[node.gradKey ?? node.op]!;
  return rule({ g, node, nodeIndex, inputs: node.inputs.map((n) => (n ? g.tensor(n)! : null)), outputs: node.outputs.map((n) => g.tensor(n)!), grads: [dy], conv: {} });
}

/** A training-mode batch norm's forward, or its forward and backward (x, scale and bias gradients from dy). */
function normGraph(l: NormLayer, what: 'forward' | 'backward'): Graph {
  const g = new Graph('bn');
  const c = l.x[1]!;
  const x = g.input('x', 'float32', l.x);
  const scale = g.input('scale', 'float32', [c]);
  const bias = g.input('bias', 'float32', [c]);
  const zeros = g.constant(new Float32Array(c), { shape: [c] });
  const { y } = g.batchNorm(x, scale, bias, zeros, zeros, { training: true, momentum: 1, epsilon: l.epsilon });
  g.output(y, 'y');
  if (what === 'backward') {
    const [dx, dscale, dbias] = ruleGradients(g, (n) => n.gradKey === 'BatchNormalizationTraining', g.input('dy', 'float32', l.x));
    g.output(dx!, 'dx');
    g.output(dscale!, 'dscale');
    g.output(dbias!, 'dbias');
  }
  return g;
}

/** An activation's backward: dx from dy at the activation's output. */
function actGraph(l: ActLayer): Graph {
  const g = new Graph('act');
  const x = g.input('x', 'float32', l.x);
  const y = l.op === 'relu' ? g.relu(x) : g.relu6(x);
  const [dx] = ruleGradients(g, (n) => n.outputs[0] === y.name, g.input('dy', 'float32', l.x));
  g.output(dx!, 'dx');
  return g;
}

const TORCH = `
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[2]))
l = json.loads(sys.argv[1])
def best(f):
    f(); b = float('inf'); spent = 0; i = 0
    while i < 5 and (i < 2 or spent < 1.5):
        t = time.perf_counter(); f(); dt = time.perf_counter() - t; b = min(b, dt); spent += dt; i += 1
    return b * 1000
r = {}
with torch.no_grad():
    x = torch.randn(*l['x'])
    if l['kind'] == 'conv':
        w = torch.randn(*l['w']) * 0.01
        s, p, d, g = l['stride'], l['pad'], l['dilation'], l['groups']
        xp = torch.nn.functional.pad(x, (p[1], p[3], p[0], p[2])) if p[0] != p[2] or p[1] != p[3] else x
        pp = [0, 0] if xp is not x else [p[0], p[1]]
        y = torch.nn.functional.conv2d(xp, w, None, s, pp, d, g)
        dy = torch.randn_like(y)
        bw = lambda mask: torch.ops.aten.convolution_backward(dy, xp, w, None, s, pp, d, False, [0, 0], g, mask)
        r['forward'] = best(lambda: torch.nn.functional.conv2d(xp, w, None, s, pp, d, g))
        r['input'] = best(lambda: bw([True, False, False])) if l['needsInput'] else 0
        r['weight'] = best(lambda: bw([False, True, False]))
    elif l['kind'] == 'bn':
        c = l['x'][1]; scale = torch.rand(c) + 0.5; bias = torch.randn(c); dy = torch.randn_like(x)
        rm, rv = torch.zeros(c), torch.ones(c)
        out = torch.ops.aten.native_batch_norm(x, scale, bias, rm, rv, True, 0.1, l['epsilon'])
        r['forward'] = best(lambda: torch.ops.aten.native_batch_norm(x, scale, bias, rm, rv, True, 0.1, l['epsilon']))
        r['backward'] = best(lambda: torch.ops.aten.native_batch_norm_backward(dy, x, scale, rm, rv, out[1], out[2], True, l['epsilon'], [True, True, True]))
    else:
        y = torch.relu(x) if l['op'] == 'relu' else torch.nn.functional.relu6(x); dy = torch.randn_like(x)
        r['backward'] = best(lambda: torch.ops.aten.threshold_backward(dy, y, 0)) if l['op'] == 'relu' else best(lambda: torch.ops.aten.hardtanh_backward(dy, x, 0.0, 6.0))
print(json.dumps(r))
`;

function torchTimes(l: Layer): Record<string, number> | null {
  if (!withTorch) return null;
  const r = spawnSync('/usr/bin/python3', ['-c', TORCH, JSON.stringify(l), String(threads)], { encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(`torch failed: ${r.stderr.slice(-300)}\n`);
    return null;
  }
  return JSON.parse(r.stdout) as Record<string, number>;
}

const INPUT_METHODS: ConvInputGradMethod[] = ['convTranspose', 'conv', 'depthwise', 'matmul'];
const WEIGHT_METHODS: ConvWeightGradMethod[] = ['im2col', 'im2col-slices', 'im2col-gemm', 'gemm-per-image', 'transposed', 'grouped', 'matmul'];

/** Every formulation that applies (errors: it does not), timed; and 'auto'. */
async function formulations(l: ConvLayer, what: 'input' | 'weight'): Promise<Record<string, number>> {
  const graphs: Record<string, Graph> = {};
  for (const m of ['auto', ...(what === 'input' ? INPUT_METHODS : WEIGHT_METHODS)]) {
    try {
      graphs[m] = convGraph(l, what, m);
    } catch {
      continue;
    }
  }
  return Object.fromEntries(Object.entries(await timeGraphs(graphs)).map(([m, ms]) => [m, round(ms)]));
}

const round = (v: number): number => Math.round(v * 100) / 100;
const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;
const result: Record<string, unknown> = {};
for (const model of models) {
  const rows: unknown[] = [];
  const totals: Record<string, { ort: number; torch: number }> = {};
  const total = (kind: string, ortMs: number, torchMs: number, count: number): void => {
    const t = (totals[kind] ??= { ort: 0, torch: 0 });
    t.ort += ortMs * count;
    t.torch += torchMs * count;
  };
  for (const { name, layer: l, count } of layersOf(model).values()) {
    if (only && !only.some((s) => name.includes(s))) continue;
    const torch = torchTimes(l);
    let row: Record<string, unknown>;
    if (l.kind === 'conv') {
      const forward = round(await timeGraph(convGraph(l, 'forward')));
      const input = l.needsInput ? await formulations(l, 'input') : {};
      const weight = await formulations(l, 'weight');
      const backward = (input.auto ?? 0) + weight.auto!;
      row = { name, kind: `conv ${l.w[2]}x${l.w[3]}${l.groups > 1 ? ` groups ${l.groups}` : ''} stride ${l.stride[0]}`, x: l.x, w: l.w, count, ort_ms: { forward, input, weight }, torch_ms: torch };
      if (torch) {
        row.ratio = { forward: ratio(forward, torch.forward!), backward: ratio(backward, torch.input! + torch.weight!) };
        total('conv forward', forward, torch.forward!, count);
        total('conv backward', backward, torch.input! + torch.weight!, count);
      }
    } else if (l.kind === 'bn') {
      const forward = round(await timeGraph(normGraph(l, 'forward')));
      const both = round(await timeGraph(normGraph(l, 'backward')));
      row = { name, kind: 'batch norm (training)', x: l.x, count, ort_ms: { forward, forward_and_backward: both }, torch_ms: torch };
      if (torch) {
        row.ratio = { forward: ratio(forward, torch.forward!), forward_and_backward: ratio(both, torch.forward! + torch.backward!) };
        total('batch norm forward + backward', both, torch.forward! + torch.backward!, count);
      }
    } else {
      const backward = round(await timeGraph(actGraph(l)));
      row = { name, kind: `${l.op} backward`, x: l.x, count, ort_ms: { backward }, torch_ms: torch };
      if (torch) {
        row.ratio = { backward: ratio(backward, torch.backward!) };
        total(`${l.op} backward`, backward, torch.backward!, count);
      }
    }
    rows.push(row);
    process.stderr.write(`${JSON.stringify(row)}\n`);
  }
  result[model] = { layers: rows, totals_ms: Object.fromEntries(Object.entries(totals).map(([k, t]) => [k, { ort: round(t.ort), torch: round(t.torch), ratio: ratio(t.ort, t.torch) }])) };
}
console.log(JSON.stringify({ bench: 'graph-layers', batch, threads, nchwc_block: block, note: "ms, best of runs; ORT: every formulation and 'auto' (what the training graph uses, in the ratios and totals); batch norm: forward, then forward and backward in one graph, against native_batch_norm and its backward", models: result }, null, 1));
