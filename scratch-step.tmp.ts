import { ssd300 } from './src/nn/zoo.js';
import { initWeights } from './src/nn/layers.js';
import { TrainingSession } from './src/graph/index.js';
const net = ssd300(21);
const w = initWeights(net.parameters(), 0);
const N = Number(process.argv[2] ?? 8);
const { graph, terms } = net.lossGraph(w);
const P = net.priorCount;
const cls = new BigInt64Array(N * P); for (let i = 0; i < cls.length; i += 97) cls[i] = 3n;
const feeds = { images: { data: new Float32Array(N * 3 * 300 * 300).map(() => Math.random()), dims: [N, 3, 300, 300], dtype: 'float32' as const },
  true_classes: { data: cls, dims: [N, P], dtype: 'int64' as const }, true_offsets: { data: new Float32Array(N * P * 4), dims: [N, P, 4], dtype: 'float32' as const } };
const s = await TrainingSession.create(graph, terms.loss, { momentum: 0.9, weightDecay: 5e-4, threads: 2, memArena: process.env.ARENA !== '0' });
for (let i = 0; i < 2; i++) { const t0 = performance.now(); const out = await s.step(feeds, 1e-3); console.log('step ms', (performance.now() - t0).toFixed(0), JSON.stringify(out)); }
