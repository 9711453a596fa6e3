// Every SSD300 convolution as its own ONNX graph: forward, input gradient and weight gradient in ONNX Runtime,
// each gradient in every formulation the gradient table knows, next to PyTorch (/usr/bin/python3 with torch)
// on the same shapes, layer by layer in the same run (so both see the same machine load).
// Usage: node --import tsx bench/graph-layers.bench.ts [--batch 8] [--threads 2] [--layers conv1_2,conv6] [--no-torch]
// Prints one JSON object.
import { spawnSync } from 'node:child_process';
import * as ort from 'onnxruntime-node';
import { GRADIENTS, Graph, type ConvInputGradMethod, type ConvWeightGradMethod, type Tensor } from '../src/graph/index.js';

interface Layer {
  name: string;
  cin: number;
  cout: number;
  size: number;
  k: number;
  stride?: number;
  pad?: number;
  dilation?: number;
}

// SSD300 (VGG-16 base, aux convs, and each map's loc + class convs as one conv: 4 or 6 priors x (4 + 21)).
const LAYERS: Layer[] = [
  { name: 'conv1_1', cin: 3, cout: 64, size: 300, k: 3, pad: 1 },
  { name: 'conv1_2', cin: 64, cout: 64, size: 300, k: 3, pad: 1 },
  { name: 'conv2_1', cin: 64, cout: 128, size: 150, k: 3, pad: 1 },
  { name: 'conv2_2', cin: 128, cout: 128, size: 150, k: 3, pad: 1 },
  { name: 'conv3_1', cin: 128, cout: 256, size: 75, k: 3, pad: 1 },
  { name: 'conv3_2', cin: 256, cout: 256, size: 75, k: 3, pad: 1 },
  { name: 'conv3_3', cin: 256, cout: 256, size: 75, k: 3, pad: 1 },
  { name: 'conv4_1', cin: 256, cout: 512, size: 38, k: 3, pad: 1 },
  { name: 'conv4_2', cin: 512, cout: 512, size: 38, k: 3, pad: 1 },
  { name: 'conv4_3', cin: 512, cout: 512, size: 38, k: 3, pad: 1 },
  { name: 'conv5_1', cin: 512, cout: 512, size: 19, k: 3, pad: 1 },
  { name: 'conv5_2', cin: 512, cout: 512, size: 19, k: 3, pad: 1 },
  { name: 'conv5_3', cin: 512, cout: 512, size: 19, k: 3, pad: 1 },
  { name: 'conv6', cin: 512, cout: 1024, size: 19, k: 3, pad: 6, dilation: 6 },
  { name: 'conv7', cin: 1024, cout: 1024, size: 19, k: 1 },
  { name: 'conv8_1', cin: 1024, cout: 256, size: 19, k: 1 },
  { name: 'conv8_2', cin: 256, cout: 512, size: 19, k: 3, stride: 2, pad: 1 },
  { name: 'conv9_1', cin: 512, cout: 128, size: 10, k: 1 },
  { name: 'conv9_2', cin: 128, cout: 256, size: 10, k: 3, stride: 2, pad: 1 },
  { name: 'conv10_1', cin: 256, cout: 128, size: 5, k: 1 },
  { name: 'conv10_2', cin: 128, cout: 256, size: 5, k: 3 },
  { name: 'conv11_1', cin: 256, cout: 128, size: 3, k: 1 },
  { name: 'conv11_2', cin: 128, cout: 256, size: 3, k: 3 },
  { name: 'head4_3', cin: 512, cout: 100, size: 38, k: 3, pad: 1 },
  { name: 'head7', cin: 1024, cout: 150, size: 19, k: 3, pad: 1 },
  { name: 'head8_2', cin: 512, cout: 150, size: 10, k: 3, pad: 1 },
  { name: 'head9_2', cin: 256, cout: 150, size: 5, k: 3, pad: 1 },
  { name: 'head10_2', cin: 256, cout: 100, size: 3, k: 3, pad: 1 },
  { name: 'head11_2', cin: 256, cout: 100, size: 1, k: 3, pad: 1 },
];

const INPUT_METHODS: Exclude<ConvInputGradMethod, 'auto'>[] = ['convTranspose', 'conv'];
const WEIGHT_METHODS: Exclude<ConvWeightGradMethod, 'auto'>[] = ['im2col', 'im2col-slices', 'im2col-gemm', 'transposed'];

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}
const batch = Number(arg('batch', '8'));
const threads = Number(arg('threads', '2'));
const only = arg('layers', '');
const withTorch = !process.argv.includes('--no-torch');
const layers = only ? LAYERS.filter((l) => only.split(',').includes(l.name)) : LAYERS;

const outSize = (l: Layer) => Math.floor((l.size + 2 * (l.pad ?? 0) - (l.dilation ?? 1) * (l.k - 1) - 1) / (l.stride ?? 1)) + 1;

/** Best wall time (ms) of a session run, after one warm-up; more repeats for fast graphs. */
async function time(run: () => Promise<unknown>): Promise<number> {
  await run();
  let best = Infinity;
  let spent = 0;
  for (let i = 0; i < 5 && (i < 2 || spent < 1500); i++) {
    const t0 = performance.now();
    await run();
    const dt = performance.now() - t0;
    best = Math.min(best, dt);
    spent += dt;
  }
  return best;
}

type What = 'forward' | 'input' | 'weight';

/** A graph computing one of the three for layer `l`, and a timed runner with pre-allocated output. */
async function measure(l: Layer, what: What, method?: string): Promise<number> {
  const g = new Graph(`${l.name}-${what}`);
  const ho = outSize(l);
  const x = g.input('x', 'float32', [batch, l.cin, l.size, l.size]);
  const w = g.input('w', 'float32', [l.cout, l.cin, l.k, l.k]);
  const dy = g.input('dy', 'float32', [batch, l.cout, ho, ho]);
  const y = g.conv2d(x, w, undefined, { stride: l.stride ?? 1, pad: l.pad ?? 0, dilation: l.dilation ?? 1 });
  let out: Tensor = y;
  if (what !== 'forward') {
    const { node, nodeIndex } = g.origin(y);
    const [dx, dw] = GRADIENTS.Conv!({
      g,
      node: node!,
      nodeIndex,
      inputs: [x, w, null],
      outputs: [y],
      grads: [dy],
      conv: {
        convWeightGrad: (what === 'weight' ? method : 'auto') as ConvWeightGradMethod,
        convInputGrad: (what === 'input' ? method : 'auto') as ConvInputGradMethod,
      },
    });
    out = what === 'input' ? dx! : dw!;
  }
  g.output(out, 'out');
  const session = await ort.InferenceSession.create(g.toBytes(), { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'basic' });
  const fill = (n: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = Math.sin(i * 0.37);
    return a;
  };
  const feeds = {
    x: new ort.Tensor('float32', fill(batch * l.cin * l.size * l.size), [batch, l.cin, l.size, l.size]),
    w: new ort.Tensor('float32', fill(l.cout * l.cin * l.k * l.k), [l.cout, l.cin, l.k, l.k]),
    dy: new ort.Tensor('float32', fill(batch * l.cout * ho * ho), [batch, l.cout, ho, ho]),
  };
  const dims = out.shape as number[];
  const fetch = { out: new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims) };
  const ms = await time(() => session.run(feeds, fetch));
  await session.release();
  return ms;
}

const TORCH = `
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[2]))
l = json.loads(sys.argv[1]); n = int(sys.argv[3])
s, p, d = l.get('stride', 1), l.get('pad', 0), l.get('dilation', 1)
x = torch.randn(n, l['cin'], l['size'], l['size']); w = torch.randn(l['cout'], l['cin'], l['k'], l['k']) * 0.01
with torch.no_grad():
    y = torch.nn.functional.conv2d(x, w, None, s, p, d)
dy = torch.randn_like(y)
def best(f):
    f(); b = float('inf'); spent = 0; i = 0
    while i < 5 and (i < 2 or spent < 1.5):
        t = time.perf_counter(); f(); dt = time.perf_counter() - t; b = min(b, dt); spent += dt; i += 1
    return b * 1000
bw = lambda mask: torch.ops.aten.convolution_backward(dy, x, w, None, [s, s], [p, p], [d, d], False, [0, 0], 1, mask)
with torch.no_grad():
    r = {'forward': best(lambda: torch.nn.functional.conv2d(x, w, None, s, p, d)),
         'input': best(lambda: bw([True, False, False])), 'weight': best(lambda: bw([False, True, False]))}
print(json.dumps(r))
`;

function torchTimes(l: Layer): Record<What, number> | null {
  if (!withTorch) return null;
  const r = spawnSync('/usr/bin/python3', ['-c', TORCH, JSON.stringify(l), String(threads), String(batch)], { encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(`torch unavailable for ${l.name}: ${r.stderr.slice(-300)}\n`);
    return null;
  }
  return JSON.parse(r.stdout) as Record<What, number>;
}

/** The fixed cost of one session run (a graph holding one tiny op), which every per-layer ORT time includes once;
 *  in a training step all layers share one run, so the per-layer ratio is also given without it. */
async function runFloor(): Promise<number> {
  const g = new Graph('floor');
  g.output(g.neg(g.input('x', 'float32', [1])), 'out');
  const session = await ort.InferenceSession.create(g.toBytes(), { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'basic' });
  const feeds = { x: new ort.Tensor('float32', new Float32Array(1), [1]) };
  const fetch = { out: new ort.Tensor('float32', new Float32Array(1), [1]) };
  const ms = await time(() => session.run(feeds, fetch));
  await session.release();
  return ms;
}
const floor = await runFloor();

const round = (v: number) => Math.round(v * 10) / 10;
const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
const rows: unknown[] = [];
const totals = { ort: 0, torch: 0 };
for (const l of layers) {
  const forward = await measure(l, 'forward');
  const input: Record<string, number> = {};
  // conv1_1's input gradient is never needed (the images are not differentiated), as in PyTorch.
  if (l.name !== 'conv1_1') for (const m of INPUT_METHODS) if (m === 'convTranspose' || (l.stride ?? 1) === 1) input[m] = round(await measure(l, 'input', m));
  const weight: Record<string, number> = {};
  for (const m of WEIGHT_METHODS) if (!(m === 'im2col-slices' && l.k === 1 && (l.stride ?? 1) === 1)) weight[m] = round(await measure(l, 'weight', m));
  const bestOf = (r: Record<string, number>) => Object.entries(r).filter(([k]) => k !== 'auto').sort((a, b) => a[1] - b[1])[0] ?? ['none', 0];
  const [inputBest] = bestOf(input);
  const [weightBest] = bestOf(weight);
  // What the training graph uses: the table's 'auto' choice (weight gradient im2col in row chunks).
  const inputMs = l.name === 'conv1_1' ? 0 : await measure(l, 'input', 'auto');
  const weightMs = await measure(l, 'weight', 'auto');
  input.auto = round(inputMs);
  weight.auto = round(weightMs);
  const torch = torchTimes(l);
  const ortTotal = forward + inputMs + weightMs;
  const torchTotal = torch ? torch.forward + (l.name === 'conv1_1' ? 0 : torch.input) + torch.weight : NaN;
  totals.ort += ortTotal;
  totals.torch += torchTotal;
  const row = {
    layer: l.name,
    ort_ms: { forward: round(forward), input, weight },
    best: { input: inputBest, weight: weightBest },
    torch_ms: torch && { forward: round(torch.forward), input: l.name === 'conv1_1' ? 0 : round(torch.input), weight: round(torch.weight) },
    ratio_ort_over_torch: torch && {
      forward: ratio(forward, torch.forward),
      backward: ratio(inputMs + weightMs, (l.name === "conv1_1" ? 0 : torch.input) + torch.weight),
      // The same without ORT's fixed cost per run (two runs: input and weight gradient).
      backward_in_one_run: ratio(Math.max(0, inputMs - (l.name === 'conv1_1' ? 0 : floor)) + Math.max(0, weightMs - floor), (l.name === 'conv1_1' ? 0 : torch.input) + torch.weight),
      total: ratio(ortTotal, torchTotal),
    },
  };
  rows.push(row);
  process.stderr.write(`${JSON.stringify(row)}\n`);
}
console.log(
  JSON.stringify({
    bench: 'graph-layers',
    batch,
    run_floor_ms: Math.round(floor * 1000) / 1000,
    threads,
    note: 'ms, best of runs; every formulation, the fastest, and auto (what the training graph uses, in the ratios and totals); PyTorch via aten.convolution_backward in the same run',
    layers: rows,
    total_ms: { ort_auto: round(totals.ort), torch: round(totals.torch), ratio: ratio(totals.ort, totals.torch) },
  }),
);
