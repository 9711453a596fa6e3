// Finite-difference gradient checking for graph rules: the analytic gradient (gradients() in ORT) against
// central differences of the loss (ORT forward runs with one input element moved by +-eps).
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { Graph, gradients, type DType, type GradientOptions, type Tensor } from '../../src/graph/index.js';
import { rng } from './naive.js';

export interface CheckInput {
  name: string;
  shape: number[];
  /** Values (default: random in [-1, 1)). */
  data?: number[] | Float64Array;
  /** Integer inputs (indices) are fed but not differentiated. */
  dtype?: DType;
}

export interface CheckOptions {
  dtype?: 'float32' | 'float64';
  eps?: number;
  tol?: number;
  /** Elements checked per input (spread over the tensor). */
  samples?: number;
  seed?: number;
  gradients?: GradientOptions;
  /** The function has kinks (relu before max pool...): where the central difference disagrees, the analytic
   *  value must match one of the one-sided slopes, and at most a tenth of the samples may be such. */
  kinks?: boolean;
}

/**
 * Builds f(inputs) with `build`, takes loss = sum(f * R) for a fixed random R, and checks d loss / d input
 * for every float input against central differences. Returns the largest error seen (for reporting).
 */
export async function gradCheck(
  inputs: CheckInput[],
  build: (g: Graph, xs: Tensor[]) => Tensor,
  opts: CheckOptions = {},
): Promise<number> {
  const dtype = opts.dtype ?? 'float64';
  const eps = opts.eps ?? (dtype === 'float64' ? 1e-6 : 1e-2);
  const tol = opts.tol ?? (dtype === 'float64' ? 1e-6 : 3e-3);
  const r = rng(opts.seed ?? 7);
  const g = new Graph('gradcheck');
  const xs = inputs.map((i) => g.input(i.name, i.dtype ?? dtype, i.shape));
  const y = build(g, xs);
  const ny = y.shape.reduce<number>((a, d) => a * (d as number), 1);
  const weights = Float64Array.from({ length: ny }, () => r());
  const R = g.constant(dtype === 'float64' ? weights : Float32Array.from(weights), { shape: y.shape as number[], dtype });
  const prod = g.mul(y, R);
  const loss = g.reduceSum(prod, [...prod.shape.keys()]);
  g.output(loss, 'loss');
  const wrt = xs.filter((t) => t.dtype === dtype);
  const grads = gradients(g, loss, wrt, opts.gradients);
  for (const t of wrt) g.output(grads.get(t.name)!, `grad_${t.name}`);
  const session = await ort.InferenceSession.create(g.toBytes(), { intraOpNumThreads: 1, graphOptimizationLevel: 'basic' });

  const feeds: Record<string, ort.Tensor> = {};
  const values = new Map<string, Float64Array | Float32Array>();
  for (const i of inputs) {
    const n = i.shape.reduce((a, b) => a * b, 1);
    const dt = i.dtype ?? dtype;
    if (dt === 'int64') feeds[i.name] = new ort.Tensor('int64', BigInt64Array.from(i.data as number[], (v) => BigInt(v)), i.shape);
    else if (dt === 'int32') feeds[i.name] = new ort.Tensor('int32', Int32Array.from(i.data as number[]), i.shape);
    else if (dt === 'bool') feeds[i.name] = new ort.Tensor('bool', Uint8Array.from(i.data as number[]), i.shape);
    else {
      const src = i.data ?? Array.from({ length: n }, () => r());
      const arr = dt === 'float64' ? Float64Array.from(src) : Float32Array.from(src);
      values.set(i.name, arr);
      feeds[i.name] = new ort.Tensor(dt, arr, i.shape);
    }
  }
  const lossAt = async () => Number((await session.run(feeds, ['loss'])).loss!.data[0]);
  const base = await session.run(feeds);
  const baseLoss = Number(base.loss!.data[0]);
  let worst = 0;
  let skipped = 0;
  let checked = 0;
  for (const t of wrt) {
    const analytic = base[`grad_${t.name}`]!.data as Float64Array | Float32Array;
    const arr = values.get(t.name)!;
    assert.equal(analytic.length, arr.length, `gradient of ${t.name} has ${analytic.length} values, input ${arr.length}`);
    const samples = Math.min(arr.length, opts.samples ?? 24);
    for (let s = 0; s < samples; s++) {
      const k = Math.floor((s * arr.length) / samples);
      const v = arr[k]!;
      arr[k] = v + eps;
      const up = await lossAt();
      arr[k] = v - eps;
      const down = await lossAt();
      arr[k] = v;
      const numeric = (up - down) / (2 * eps);
      checked++;
      const err = Math.abs(numeric - analytic[k]!) / (1 + Math.abs(numeric));
      if (err > tol && opts.kinks) {
        // A kink within eps (a max-pool near-tie, a relu near 0): the analytic value must match a one-sided slope.
        const right = (up - baseLoss) / eps;
        const left = (baseLoss - down) / eps;
        const near = (v: number) => Math.abs(v - analytic[k]!) / (1 + Math.abs(v)) <= 10 * tol;
        assert.ok(near(left) || near(right), `d loss / d ${t.name}[${k}]: analytic ${analytic[k]} matches neither slope ${left} nor ${right}`);
        if (process.env.GC_DEBUG) console.error('kink', t.name, k, analytic[k], numeric, left, right);
        skipped++;
        continue;
      }
      worst = Math.max(worst, err);
      assert.ok(err <= tol, `d loss / d ${t.name}[${k}]: analytic ${analytic[k]} vs numeric ${numeric} (err ${err.toExponential(2)} > ${tol})`);
    }
  }
  await session.release();
  assert.ok(skipped <= checked / 10, `${skipped} of ${checked} samples sat on a kink`);
  return worst;
}

/** n distinct values, shuffled, spaced by `step` (no ties, no kinks within a finite-difference step). */
export function distinct(n: number, seed: number, step = 0.05): number[] {
  const r = rng(seed);
  const v = Array.from({ length: n }, (_, i) => (i - n / 2) * step);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(((r() + 1) / 2) * (i + 1));
    [v[i], v[j]] = [v[j]!, v[i]!];
  }
  return v;
}
