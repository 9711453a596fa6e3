// ONNX export: the exported file, run by onnxruntime (node, and the WebAssembly build the browser uses), gives the
// library's raw outputs (1e-5 relative) and, with post-processing in the graph, the library's detections as sets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { BoxCoder } from '../../src/boxes/coder.js';
import { DetectionPostprocessor } from '../../src/boxes/detect.js';
import { Graph } from '../../src/graph/index.js';
import { ONNX } from '../../src/graph/index.js';
import { exportOnnx, ONNX_CONFIG_KEY } from '../../src/nn/export.js';
import { appendPostprocess, type PostprocessOptions } from '../../src/nn/postprocess-graph.js';
import { refF32 } from '../fixtures/reference.js';
import { recipeImage, recipeWeights } from './recipe.js';
import { modelConfig } from '../../src/nn/models/index.js';
import { SSD } from '../../src/nn/model.js';
import { TinyDetector } from '../serve/tiny-model.js';

const quiet = { logSeverityLevel: 3 as const };

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, n = 0;
  for (let i = 0; i < b.length; i++) {
    d += (a[i]! - b[i]!) ** 2;
    n += b[i]! ** 2;
  }
  return Math.sqrt(d / n);
}

/** Detections of one image as comparable rows. */
interface Row {
  label: number;
  score: number;
  box: number[];
}

/** Reads image `b` of a post-processed ORT output. */
function ortRows(out: ort.InferenceSession.ReturnType, b: number): Row[] {
  const k = out.scores!.dims[1]!;
  const n = Number((out.num_detections!.data as BigInt64Array)[b]);
  const rows: Row[] = [];
  for (let i = 0; i < n; i++) {
    const j = b * k + i;
    rows.push({ label: Number((out.labels!.data as BigInt64Array)[j]), score: (out.scores!.data as Float32Array)[j]!, box: Array.from((out.boxes!.data as Float32Array).subarray(4 * j, 4 * j + 4)) });
  }
  // Rows past num_detections are zero.
  for (let i = n; i < k; i++) assert.equal((out.scores!.data as Float32Array)[b * k + i], 0, `row ${i} past num_detections ${n} must be zero`);
  return rows;
}

/** Asserts that two detection lists are the same set (label, score within 2e-6, box within 2e-6). */
function assertSameSet(got: Row[], want: Row[], what: string): void {
  assert.equal(got.length, want.length, `${what}: ${got.length} detections, library has ${want.length}`);
  const used = new Uint8Array(got.length);
  for (const w of want) {
    const i = got.findIndex((g, i) => !used[i] && g.label === w.label && Math.abs(g.score - w.score) <= 2e-6 && g.box.every((v, k) => Math.abs(v - w.box[k]!) <= 2e-6));
    assert.ok(i >= 0, `${what}: library detection ${JSON.stringify(w)} has no counterpart in the ONNX output`);
    used[i] = 1;
  }
  // Sorted by decreasing score.
  for (let i = 1; i < got.length; i++) assert.ok(got[i]!.score <= got[i - 1]!.score, `${what}: scores not sorted at ${i}`);
}

function libraryRows(locs: Float32Array, scores: Float32Array, priors: Float32Array, opts: PostprocessOptions): Row[] {
  const d = new DetectionPostprocessor(new BoxCoder(priors)).run(locs, scores, { minScore: opts.minScore ?? 0.2, maxOverlap: opts.maxOverlap ?? 0.45, topK: opts.topK ?? 200, suppress: [...(opts.suppress ?? [])] });
  return Array.from({ length: d.count }, (_, i) => ({ label: d.labels[i]!, score: d.scores[i]!, box: Array.from(d.boxes.subarray(4 * i, 4 * i + 4)) }));
}

/** A graph of post-processing alone: inputs locs (N, P, 4) and scores (N, P, K). */
async function postprocessSession(priors: Float32Array, K: number, opts: PostprocessOptions): Promise<ort.InferenceSession> {
  const P = priors.length / 4;
  const g = new Graph('post');
  const locs = g.input('locs', 'float32', ['N', P, 4]);
  const scores = g.input('scores', 'float32', ['N', P, K]);
  const out = appendPostprocess(g, locs, scores, priors, { center: 0.1, size: 0.2 }, opts);
  g.output(out.boxes, 'boxes');
  g.output(out.labels, 'labels');
  g.output(out.scores, 'scores_out');
  g.output(out.count, 'num_detections');
  const s = await ort.InferenceSession.create(g.toBytes(), quiet);
  return s;
}

async function runPost(s: ort.InferenceSession, locs: Float32Array, scores: Float32Array, N: number, P: number, K: number) {
  const o = await s.run({ locs: new ort.Tensor('float32', locs, [N, P, 4]), scores: new ort.Tensor('float32', scores, [N, P, K]) });
  return { ...o, scores: o.scores_out! } as ort.InferenceSession.ReturnType;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

test('post-processing graph equals DetectionPostprocessor on random outputs (as sets), many seeds', async () => {
  const P = 300, K = 6, N = 3;
  const rnd = lcg(7);
  const priors = new Float32Array(4 * P);
  for (let p = 0; p < P; p++) priors.set([0.1 + 0.8 * rnd(), 0.1 + 0.8 * rnd(), 0.05 + 0.4 * rnd(), 0.05 + 0.4 * rnd()], 4 * p);
  for (const opts of [{ minScore: 0.3, maxOverlap: 0.45, topK: 200 }, { minScore: 0.01, maxOverlap: 0.3, topK: 50 }, { minScore: 0.2, maxOverlap: 0.6, topK: 1000, suppress: [2, 5] }]) {
    const s = await postprocessSession(priors, K, opts);
    for (let trial = 0; trial < 4; trial++) {
      const locs = new Float32Array(N * P * 4).map(() => (rnd() - 0.5) * 2);
      const scores = new Float32Array(N * P * K).map(() => (rnd() - 0.5) * 6);
      const out = await runPost(s, locs, scores, N, P, K);
      for (let b = 0; b < N; b++) {
        const want = libraryRows(locs.subarray(b * P * 4, (b + 1) * P * 4), scores.subarray(b * P * K, (b + 1) * P * K), priors, opts);
        assert.ok(want.length > 0, 'the case must have detections');
        assertSameSet(ortRows(out, b), want, `opts ${JSON.stringify(opts)} trial ${trial} image ${b}`);
      }
    }
    await s.release();
  }
});

test('post-processing graph: threshold and NMS boundaries are strict, as in the library', async () => {
  // Priors decode (zero offsets) to [0, 0, 0.5, 1] and [0, 0, 0.25, 1]: IoU exactly 0.5.
  const priors = Float32Array.of(0.25, 0.5, 0.5, 1, 0.125, 0.5, 0.25, 1);
  const locs = new Float32Array(8);
  // Two classes (background + 1); equal logits give probability exactly 0.5, the other prior 0.7310586.
  const scores = Float32Array.of(0, 1, 0, 0);
  const cases: [PostprocessOptions, number][] = [
    [{ minScore: 0.5, maxOverlap: 0.5 }, 1], // 0.5 is not > 0.5: only the first prior is a candidate
    [{ minScore: 0.49, maxOverlap: 0.5 }, 2], // IoU 0.5 is not > 0.5: both kept
    [{ minScore: 0.49, maxOverlap: 0.4999 }, 1], // IoU 0.5 > 0.4999: the lower is suppressed
  ];
  for (const [opts, n] of cases) {
    const s = await postprocessSession(priors, 2, opts);
    const got = ortRows(await runPost(s, locs, scores, 1, 2, 2), 0);
    const want = libraryRows(locs, scores, priors, opts);
    assert.equal(want.length, n, `library with ${JSON.stringify(opts)}`);
    assertSameSet(got, want, JSON.stringify(opts));
    await s.release();
  }
});

test('exported network: raw outputs equal the library (1e-5 relative), any batch; metadata holds the config', async () => {
  const model = new TinyDetector();
  const bytes = exportOnnx(model);
  const proto = ONNX.ModelProto.decode(bytes);
  assert.equal(Number(proto.opsetImport[0]!.version), 18);
  const dims = proto.graph!.input![0]!.type!.tensorType!.shape!.dim!;
  assert.equal(dims[0]!.dimParam, 'N', 'batch dimension is symbolic');
  const meta = proto.metadataProps.find((m) => m.key === ONNX_CONFIG_KEY);
  assert.deepEqual(JSON.parse(meta!.value!).classNames, model.config.classNames);
  const s = await ort.InferenceSession.create(bytes, quiet);
  assert.deepEqual(s.outputNames, ['locs', 'scores']);
  for (const batch of [1, 3]) {
    const img = new Float32Array(batch * 3 * 300 * 300).map((_, i) => Math.sin(i * 0.0007) * 2);
    const want = await model.predict(img, batch);
    const got = await s.run({ images: new ort.Tensor('float32', img, [batch, 3, 300, 300]) });
    assert.deepEqual(got.locs!.dims, [batch, 8732, 4]);
    assert.deepEqual(got.scores!.dims, [batch, 8732, 21]);
    assert.ok(relL2(got.locs!.data as Float32Array, want.locs) <= 1e-5, `locs batch ${batch}`);
    assert.ok(relL2(got.scores!.data as Float32Array, want.scores) <= 1e-5, `scores batch ${batch}`);
  }
  await s.release();
  await model.dispose();
});

test('exported detector: detections on real images equal model.detect (as sets), in onnxruntime-node and -web', async () => {
  const model = new TinyDetector();
  const opts = { minScore: 0.3, maxOverlap: 0.45, topK: 200 };
  const bytes = exportOnnx(model, { withPostprocess: true, ...opts });
  const s = await ort.InferenceSession.create(bytes, quiet);
  assert.deepEqual(s.outputNames, ['boxes', 'labels', 'scores', 'num_detections']);
  // Three different pictures made with sharp, batched in one run.
  const pics = await Promise.all(
    [
      { r: 200, g: 30, b: 60 },
      { r: 20, g: 90, b: 220 },
      { r: 240, g: 240, b: 40 },
    ].map((bg, i) =>
      sharp({ create: { width: 400 + 100 * i, height: 300, channels: 3, background: bg } })
        .composite([{ input: { create: { width: 120, height: 150, channels: 3, background: { r: 10 * i, g: 200, b: 30 } } }, left: 60 + 40 * i, top: 50 }])
        .jpeg()
        .toBuffer(),
    ),
  );
  const prepared = await Promise.all(pics.map((p) => model.prepare(p)));
  const input = new Float32Array(3 * 3 * 300 * 300);
  prepared.forEach((p, i) => input.set(p.data, i * 3 * 300 * 300));
  const out = await s.run({ images: new ort.Tensor('float32', input, [3, 3, 300, 300]) });
  let total = 0;
  for (let b = 0; b < 3; b++) {
    const dets = await model.detect(pics[b]!, opts);
    total += dets.length;
    const want = dets.map((d) => ({ label: d.classIndex, score: d.score, box: [d.box.xmin / prepared[b]!.width, d.box.ymin / prepared[b]!.height, d.box.xmax / prepared[b]!.width, d.box.ymax / prepared[b]!.height] }));
    // model.detect clips boxes to the image; clip the graph's fractional boxes the same way before comparing.
    const got = ortRows(out, b).map((r) => ({ ...r, box: r.box.map((v) => Math.min(1, Math.max(0, v))) }));
    assertSameSet(got, want, `image ${b}`);
  }
  assert.ok(total >= 3, `the images must give detections to compare (got ${total})`);

  // The WebAssembly build (what the browser page runs) loads the same file and gives the same detections.
  const ortWeb = await import('onnxruntime-web');
  ortWeb.env.wasm.numThreads = 1;
  const w = await ortWeb.InferenceSession.create(bytes);
  const one = await w.run({ images: new ortWeb.Tensor('float32', input.subarray(0, 3 * 300 * 300), [1, 3, 300, 300]) });
  const webRows = ortRows(one as unknown as ort.InferenceSession.ReturnType, 0);
  const nodeRows = ortRows(out, 0);
  assert.equal(webRows.length, nodeRows.length);
  webRows.forEach((r, i) => {
    assert.equal(r.label, nodeRows[i]!.label);
    assert.ok(Math.abs(r.score - nodeRows[i]!.score) < 1e-4);
  });
  await w.release();
  await s.release();
  await model.dispose();
});

test('exported SSD300 with the reference recipe weights reproduces the PyTorch reference outputs (1e-3 relative L2)', async () => {
  const model = SSD.create(modelConfig('ssd300'), { weights: recipeWeights() });
  const s = await ort.InferenceSession.create(exportOnnx(model), quiet);
  const image = recipeImage();
  const out = await s.run({ images: new ort.Tensor('float32', image.data, image.dims) });
  const locs = refF32('forward_locs'), scores = refF32('forward_scores');
  assert.deepEqual(out.locs!.dims, locs.shape);
  assert.deepEqual(out.scores!.dims, scores.shape);
  const dl = relL2(out.locs!.data as Float32Array, locs.data), ds = relL2(out.scores!.data as Float32Array, scores.data);
  assert.ok(dl < 1e-3 && ds < 1e-3, `relative L2: locs ${dl}, scores ${ds}`);
  await s.release();
});
