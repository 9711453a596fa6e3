import { Graph, TrainingSession, InferenceRunner } from './src/graph/index.js';

// A tiny classifier: conv -> relu -> max pool -> global average -> linear, on 1x8x8 images, 3 classes.
const g = new Graph('tiny');
const images = g.input('images', 'float32', ['N', 1, 8, 8]);      // 'N' is a symbolic batch dimension
const labels = g.input('labels', 'int64', ['N', 1]);
const rand = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + s) * 0.5);
const w = g.parameter('conv.weight', [8, 1, 3, 3], rand(72, 1));
const b = g.parameter('conv.bias', [8], new Float32Array(8), { group: 'bias' });
const fc = g.parameter('fc.weight', [8, 3], rand(24, 2));
const h = g.maxPool(g.relu(g.conv2d(images, w, b, { pad: 1 })), { kernel: 3, stride: 2, pad: 1, ceilMode: true });
const logits = g.matmul(g.reshape(g.globalAveragePool(h), ['N', 8]), fc);               // [N, 3]
const loss = g.reduceMean(g.neg(g.gatherElements(g.logSoftmax(logits, 1), labels, 1)), [0, 1]);
g.output(loss, 'loss');

// One ORT session runs forward, backward and the SGD update; lr is fed each step.
const trainer = await TrainingSession.create(g, loss, { momentum: 0.9, weightDecay: 5e-4, lrMultipliers: { bias: 2 }, threads: 2 });
const x = new Float32Array(4 * 64).map((_, i) => ((i * 7) % 13) / 13);
const y = BigInt64Array.from([0n, 1n, 2n, 1n]);
for (let step = 0; step < 3; step++) {
  const { loss: l } = await trainer.step({ images: { data: x, dims: [4, 1, 8, 8], dtype: 'float32' }, labels: { data: y, dims: [4, 1], dtype: 'int64' } }, 0.05);
  console.log(`step ${step}: loss ${l!.toFixed(4)}`);
}

// Inference with the trained weights baked in; the same model as bytes for any ONNX runtime.
const net = new Graph('tiny-infer');
const im = net.input('images', 'float32', ['N', 1, 8, 8]);
const w2 = net.parameter('conv.weight', [8, 1, 3, 3], w.init);
const b2 = net.parameter('conv.bias', [8], b.init, { group: 'bias' });
const fc2 = net.parameter('fc.weight', [8, 3], fc.init);
const h2 = net.maxPool(net.relu(net.conv2d(im, w2, b2, { pad: 1 })), { kernel: 3, stride: 2, pad: 1, ceilMode: true });
net.output(net.softmax(net.matmul(net.reshape(net.globalAveragePool(h2), ['N', 8]), fc2), 1), 'probs');
const runner = await InferenceRunner.create(net, trainer.getParameters());
const { probs } = await runner.run({ images: { data: x, dims: [4, 1, 8, 8], dtype: 'float32' } });
console.log(probs!.dims, net.toBytes().length, 'bytes of ONNX');
