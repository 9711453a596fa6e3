// Box-math speed: matching 8732 SSD300 priors against 50 objects, and full detection post-processing
// (softmax, decode, per-class threshold + NMS, top-k) of one image with 8732 x 21 scores (20 object
// classes), on three kinds of network output. Times are per image, median of many runs after warm-up.
// Prints one JSON object. Run: node --import tsx bench/boxes.bench.ts
import { availableParallelism, loadavg } from 'node:os';
import { BoxCoder, DetectionPostprocessor, Matcher, SSD300_PRIORS, generatePriors, iouMatrix } from '../src/boxes/index.js';
import { refF32 } from '../test/fixtures/reference.js';
import { Random } from '../src/data/random.js';

/** Deterministic uniform numbers in [0, 1) from the library's seeded generator. */
function rng(seed: number): () => number {
  const r = new Random(seed);
  return () => r.next();
}

/**
 * Wall-clock median, p90 and min in ms, and the median CPU time of this process per run
 * (process.cpuUsage): on a machine shared with other jobs, CPU time leaves out the time the
 * process waited for a core, so it is the steadier figure.
 */
function timeMs(runs: number, fn: () => void): { median: number; p90: number; min: number; cpu_median: number } {
  for (let i = 0; i < Math.min(20, runs); i++) fn(); // warm-up (JIT)
  const t: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c = process.cpuUsage();
    const s = performance.now();
    fn();
    t.push(performance.now() - s);
    const d = process.cpuUsage(c);
    cpu.push((d.user + d.system) / 1000);
  }
  t.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  const r = (v: number): number => Math.round(v * 1000) / 1000;
  return { median: r(t[t.length >> 1]), p90: r(t[Math.floor(t.length * 0.9)]), min: r(t[0]), cpu_median: r(cpu[cpu.length >> 1]) };
}

const rand = rng(1);
const priors = generatePriors(SSD300_PRIORS);
const coder = new BoxCoder(priors);
const nPriors = coder.priorCount;

// 50 random ground-truth boxes of varied size.
const nObjects = 50;
const boxes = new Float32Array(4 * nObjects);
const labels = new Int32Array(nObjects);
for (let j = 0; j < nObjects; j++) {
  const w = 0.02 + 0.6 * rand(), h = 0.02 + 0.6 * rand();
  const x = rand() * (1 - w), y = rand() * (1 - h);
  boxes.set([x, y, x + w, y + h], 4 * j);
  labels[j] = 1 + Math.floor(rand() * 20);
}
const matcher = new Matcher(coder);
const into = { classes: new Int32Array(nPriors), offsets: new Float32Array(4 * nPriors) };
const matching = timeMs(300, () => matcher.match(boxes, labels, into));

const nClasses = 21;
const post = new DetectionPostprocessor(coder);
function postprocess(locs: Float32Array, logits: Float32Array, minScore: number, runs: number) {
  const last = post.run(locs, logits, { minScore, maxOverlap: 0.45, topK: 200 });
  return { minScore, detections: last.count, ...timeMs(runs, () => post.run(locs, logits, { minScore, maxOverlap: 0.45, topK: 200 })) };
}

// 1. The reference's detection input: outputs of an untrained SSD300 (loss_pred_* of the fixtures,
//    scaled as the parity test does). Scores are spread, so most priors need the full softmax.
const refLocs = refF32('loss_pred_locs').data.slice(0, 4 * nPriors).map((v) => v * Math.fround(0.2));
const refLogits = refF32('loss_pred_scores').data.slice(0, nPriors * nClasses).map((v) => v * Math.fround(0.55));

// 2. Trained-like outputs: background confident on most priors; 10 objects, each predicted by the
//    priors that overlap it (IoU > 0.4) with a high class logit and offsets near the object's.
const trainedLocs = new Float32Array(4 * nPriors).map(() => (rand() - 0.5) * 0.4);
const trainedLogits = new Float32Array(nPriors * nClasses).map(() => (rand() - 0.5) * 2);
for (let p = 0; p < nPriors; p++) trainedLogits[p * nClasses] += 6;
const objects = boxes.subarray(0, 40);
const overlap = new Float32Array(nPriors);
for (let j = 0; j < 10; j++) {
  iouMatrix(objects.subarray(4 * j, 4 * j + 4), coder.priorsXy, overlap);
  const enc = coder.encode(objects.subarray(4 * j, 4 * j + 4), new Int32Array([0]));
  for (let p = 0; p < nPriors; p++) {
    if (overlap[p] <= 0.4) continue;
    coder.encode(objects.subarray(4 * j, 4 * j + 4), new Int32Array([p]), enc);
    for (let e = 0; e < 4; e++) trainedLocs[4 * p + e] = enc[e] + (rand() - 0.5) * 0.5;
    trainedLogits[p * nClasses] -= 6;
    trainedLogits[p * nClasses + labels[j]] += 4 + 4 * overlap[p];
  }
}

// 3. Worst case: random offsets and logits, so thousands of scattered boxes pass the threshold.
const randomLocs = new Float32Array(4 * nPriors).map(() => (rand() + rand() + rand() - 1.5) * 0.5);
const randomLogits = new Float32Array(nPriors * nClasses).map(() => (rand() + rand() + rand() - 1.5) * 3);

console.log(JSON.stringify({
  node: process.version,
  cpus: availableParallelism(),
  load_average_1min: Math.round(loadavg()[0] * 100) / 100,
  priors: nPriors,
  matching_ms: { objects: nObjects, ...matching },
  postprocess_ms: {
    classes: nClasses,
    reference_input: postprocess(refLocs, refLogits, 0.2, 200),
    trained_like: postprocess(trainedLocs, trainedLogits, 0.2, 300),
    trained_like_eval: postprocess(trainedLocs, trainedLogits, 0.01, 300),
    random_worst_case: postprocess(randomLocs, randomLogits, 0.2, 100),
    random_worst_case_eval: postprocess(randomLocs, randomLogits, 0.01, 50),
  },
}));
