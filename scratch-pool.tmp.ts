import * as ort from 'onnxruntime-node';
import { GRADIENTS, Graph, type Tensor } from './src/graph/index.js';
const [N, C, H] = [8, 64, 300];
const variants: Record<string, (g: Graph, x: Tensor, dy: Tensor, y: Tensor, nodeIndex: number) => Tensor> = {
  scatter: (g, x, dy, y, nodeIndex) => GRADIENTS.MaxPool!({ g, node: g.nodes[nodeIndex]!, nodeIndex, inputs: [x], outputs: [y], grads: [dy], convWeightGrad: 'auto', convInputGrad: 'auto' })[0]!,
  mask: (g, x, dy, y, nodeIndex) => {
    const idx = g.requireNodeOutput(nodeIndex, 1, 'int64', y.shape);
    const up = (t: Tensor) => g.reshape(g.expand(g.reshape(t, [N, C, H / 2, 1, H / 2, 1]), g.constant(BigInt64Array.from([N, C, H / 2, 2, H / 2, 2].map(BigInt)), { dtype: 'int64' }), [N, C, H / 2, 2, H / 2, 2]), [N, C, H, H]);
    const pos = g.constant(BigInt64Array.from({ length: N * C * H * H }, (_, i) => BigInt(i)), { shape: [N, C, H, H], dtype: 'int64' });
    return g.where(g.equal(pos, up(idx)), up(dy), 0);
  },
};
for (const [name, f] of Object.entries(variants)) {
  const g = new Graph(name);
  const x = g.input('x', 'float32', [N, C, H, H]); const dy = g.input('dy', 'float32', [N, C, H / 2, H / 2]);
  const y = g.maxPool(x, { kernel: 2, stride: 2 });
  g.output(f(g, x, dy, y, g.origin(y).nodeIndex), 'dx');
  const s = await ort.InferenceSession.create(g.toBytes(), { intraOpNumThreads: 2, graphOptimizationLevel: 'basic' });
  const feeds = { x: new ort.Tensor('float32', new Float32Array(N * C * H * H).map((_, i) => Math.sin(i)), [N, C, H, H]), dy: new ort.Tensor('float32', new Float32Array(N * C * H * H / 4).fill(1), [N, C, H / 2, H / 2]) };
  const fetch = { dx: new ort.Tensor('float32', new Float32Array(N * C * H * H), [N, C, H, H]) };
  const ts = []; for (let i = 0; i < 3; i++) { const t0 = performance.now(); await s.run(feeds, fetch); ts.push(performance.now() - t0); }
  console.log(name, ts.map((t) => t.toFixed(0)).join(' '));
}
