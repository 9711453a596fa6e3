// The training graph: SGD semantics against a plain TypeScript PyTorch-style update, and a small CNN that
// learns a generated toy problem.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, SGD, TrainingSession, type Tensor } from '../../src/graph/index.js';
import { randomArray, rng } from './naive.js';

/** A linear model y = x W + b with loss mean((y - t)^2); its gradients are easy to write by hand. */
function linearModel(n: number, k: number, m: number) {
  const g = new Graph('linear');
  const x = g.input('x', 'float32', ['N', k]);
  const target = g.input('t', 'float32', ['N', m]);
  const W = g.parameter('W', [k, m], randomArray(k * m, 21, 0.5));
  const b = g.parameter('b', [m], randomArray(m, 22, 0.5), { group: 'bias' });
  const err = g.sub(g.add(g.matmul(x, W), b), target);
  const loss = g.reduceMean(g.mul(err, err), [0, 1]);
  g.output(loss, 'loss');
  return { g, loss, n, k, m };
}

test('SGD step matches PyTorch semantics: weight decay, momentum, group lr multipliers, clip by global norm', async () => {
  const n = 5;
  const k = 3;
  const m = 2;
  const { g, loss } = linearModel(n, k, m);
  const opts = { optimizer: new SGD({ momentum: 0.9, weightDecay: 0.01 }), lrMultipliers: { weight: 1, bias: 2 }, clipGradNorm: 0.5, threads: 1 };
  const session = await TrainingSession.create(g, loss, opts);
  const xd = randomArray(n * k, 23);
  const td = randomArray(n * m, 24);
  // Reference in plain TypeScript (float64).
  const W = Float64Array.from(g.parameters[0]!.init);
  const b = Float64Array.from(g.parameters[1]!.init);
  const bufW = new Float64Array(W.length);
  const bufB = new Float64Array(b.length);
  const lrs = [0.1, 0.05, 0.2];
  for (const lr of lrs) {
    // forward + gradients of mean squared error
    const gW = new Float64Array(W.length);
    const gB = new Float64Array(b.length);
    let lossRef = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < m; j++) {
        let y = b[j]!;
        for (let q = 0; q < k; q++) y += xd[i * k + q]! * W[q * m + j]!;
        const e = y - td[i * m + j]!;
        lossRef += (e * e) / (n * m);
        const de = (2 * e) / (n * m);
        gB[j]! += de;
        for (let q = 0; q < k; q++) gW[q * m + j]! += de * xd[i * k + q]!;
      }
    let norm = 0;
    for (const v of [...gW, ...gB]) norm += v * v;
    norm = Math.sqrt(norm);
    const coef = Math.min(1, 0.5 / (norm + 1e-6));
    const update = (p: Float64Array, gr: Float64Array, buf: Float64Array, mult: number) => {
      for (let i = 0; i < p.length; i++) {
        const d = gr[i]! * coef + 0.01 * p[i]!;
        buf[i] = 0.9 * buf[i]! + d;
        p[i]! -= lr * mult * buf[i]!;
      }
    };
    update(W, gW, bufW, 1);
    update(b, gB, bufB, 2);
    const out = await session.step(
      { x: { data: xd, dims: [n, k], dtype: 'float32' }, t: { data: td, dims: [n, m], dtype: 'float32' } },
      lr,
    );
    assert.ok(Math.abs(out.loss! - lossRef) < 1e-5 * (1 + lossRef), `loss ${out.loss} vs ${lossRef}`);
    assert.ok(Math.abs(out.grad_norm! - norm) < 1e-5 * (1 + norm), `grad norm ${out.grad_norm} vs ${norm}`);
    const params = session.getParameters();
    const state = session.getOptimizerState();
    for (const [name, ref, buf] of [['W', W, bufW], ['b', b, bufB]] as const) {
      const got = params.get(name)!;
      const mom = state.get(`${name}.momentum`)!;
      for (let i = 0; i < ref.length; i++) {
        assert.ok(Math.abs(got[i]! - ref[i]!) < 1e-5, `${name}[${i}] after lr ${lr}: ${got[i]} vs ${ref[i]}`);
        assert.ok(Math.abs(mom[i]! - buf[i]!) < 1e-5, `momentum ${name}[${i}]: ${mom[i]} vs ${buf[i]}`);
      }
    }
  }
  // set/get round trip goes into the buffers the next step reads.
  const zeros = new Map([['W', new Float32Array(k * m)]]);
  session.setParameters(zeros);
  assert.deepEqual([...session.getParameters().get('W')!], new Array(k * m).fill(0));
  assert.throws(() => session.setParameters(new Map([['W', new Float32Array(1)]])), /'W' has 1 values, expected 6/);
  await session.release();
});

/** Toy images: 1x8x8 with a horizontal bar (class 0), a vertical bar (1) or a diagonal (2), plus noise. */
function toyBatch(n: number, r: () => number): { x: Float32Array; y: BigInt64Array } {
  const x = new Float32Array(n * 64);
  const y = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    const cls = Math.floor(((r() + 1) / 2) * 3) % 3;
    const pos = 1 + Math.floor(((r() + 1) / 2) * 6);
    y[i] = BigInt(cls);
    for (let p = 0; p < 64; p++) x[i * 64 + p] = 0.3 * r();
    for (let t = 0; t < 8; t++) {
      const [row, col] = cls === 0 ? [pos, t] : cls === 1 ? [t, pos] : [t, t];
      x[i * 64 + row * 8 + col]! += 1;
    }
  }
  return { x, y };
}

function smallCnn(): { g: Graph; loss: Tensor } {
  const g = new Graph('toy-cnn');
  const images = g.input('images', 'float32', ['N', 1, 8, 8]);
  const labels = g.input('labels', 'int64', ['N', 1]);
  const he = (fanIn: number, n: number, seed: number) => randomArray(n, seed, Math.sqrt(6 / fanIn));
  const w1 = g.parameter('conv1.weight', [8, 1, 3, 3], he(9, 72, 31));
  const b1 = g.parameter('conv1.bias', [8], new Float32Array(8), { group: 'bias' });
  const w2 = g.parameter('conv2.weight', [16, 8, 3, 3], he(72, 1152, 32));
  const b2 = g.parameter('conv2.bias', [16], new Float32Array(16), { group: 'bias' });
  const fc = g.parameter('fc.weight', [16, 3], he(16, 48, 33));
  const fcb = g.parameter('fc.bias', [3], new Float32Array(3), { group: 'bias' });
  let h = g.relu(g.conv2d(images, w1, b1, { pad: 1 }));
  h = g.maxPool(h, { kernel: 3, stride: 2, pad: 1, ceilMode: true }); // overlapping windows, [N,8,4,4]
  h = g.relu(g.conv2d(h, w2, b2, { pad: 1 }));
  const feat = g.reshape(g.globalAveragePool(h), ['N', 16]);
  const logits = g.add(g.matmul(feat, fc), fcb);
  const nll = g.neg(g.gatherElements(g.logSoftmax(logits, 1), labels, 1));
  const loss = g.reduceMean(nll, [0, 1]);
  g.output(loss, 'loss');
  return { g, loss };
}

test('a small CNN learns a toy problem: loss from ~ln 3 to below 0.15 in 300 steps, decreasing', async () => {
  const { g, loss } = smallCnn();
  const session = await TrainingSession.create(g, loss, { optimizer: new SGD({ momentum: 0.9, weightDecay: 5e-4 }), lrMultipliers: { bias: 2 }, threads: 1 });
  const r = rng(5);
  const losses: number[] = [];
  const batch = 16;
  for (let step = 0; step < 300; step++) {
    const { x, y } = toyBatch(batch, r);
    const lr = step < 200 ? 0.05 : 0.01;
    const out = await session.step(
      { images: { data: x, dims: [batch, 1, 8, 8], dtype: 'float32' }, labels: { data: y, dims: [batch, 1], dtype: 'int64' } },
      lr,
    );
    losses.push(out.loss!);
  }
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  const first = mean(losses.slice(0, 20));
  const middle = mean(losses.slice(140, 160));
  const last = mean(losses.slice(-20));
  assert.ok(first > 0.9 && first < 1.4, `initial loss ${first} should be near ln 3`);
  assert.ok(middle < first && last < middle, `loss curve not decreasing: ${first} -> ${middle} -> ${last}`);
  assert.ok(last < 0.15, `final loss ${last} (mean of the last 20 steps) should be below 0.15`);
  await session.release();
});

test('collectGarbage frees unreachable buffers at once (what a training step does with the outputs ORT copies back)', async () => {
  const { collectGarbage } = await import('../../src/graph/runtime.js');
  const before = process.memoryUsage().arrayBuffers;
  // 64 MB that nothing references once this function returns.
  ((): void => {
    const garbage = new Float32Array(16 * 2 ** 20);
    garbage[0] = 1;
  })();
  assert.ok(process.memoryUsage().arrayBuffers >= before + 60 * 2 ** 20, 'the buffer counts until collected');
  collectGarbage();
  assert.ok(process.memoryUsage().arrayBuffers < before + 8 * 2 ** 20, `after collectGarbage: ${process.memoryUsage().arrayBuffers - before} bytes more than before`);
});
