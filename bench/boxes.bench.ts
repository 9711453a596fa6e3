// Box-math speed: matching 8732 SSD300 priors against 50 objects, and full detection post-processing
// (softmax, decode, per-class threshold + NMS, top-k) of one image with 8732 x 21 scores.
// Prints one JSON object. Run: node --import tsx bench/boxes.bench.ts
import { BoxCoder, DetectionPostprocessor, Matcher, SSD300_PRIORS, generatePriors } from '../src/boxes/index.js';

/** Deterministic uniform numbers in [0, 1) (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function timeMs(runs: number, fn: () => void): { median: number; p90: number; min: number } {
  for (let i = 0; i < Math.min(20, runs); i++) fn(); // warm-up (JIT)
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const s = performance.now();
    fn();
    t.push(performance.now() - s);
  }
  t.sort((a, b) => a - b);
  const r = (v: number): number => Math.round(v * 1000) / 1000;
  return { median: r(t[t.length >> 1]), p90: r(t[Math.floor(t.length * 0.9)]), min: r(t[0]) };
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

// Network-like outputs: offsets ~ N(0, 1)-ish and logits spread so that a few hundred boxes pass
// minScore 0.2, as the reference's detection input does.
const nClasses = 21;
const locs = new Float32Array(4 * nPriors).map(() => (rand() + rand() + rand() - 1.5) * 0.5);
const logits = new Float32Array(nPriors * nClasses).map(() => (rand() + rand() + rand() - 1.5) * 3);
const post = new DetectionPostprocessor(coder);
const display = timeMs(200, () => post.run(locs, logits, { minScore: 0.2, maxOverlap: 0.45, topK: 200 }));
const last = post.run(locs, logits, { minScore: 0.2, maxOverlap: 0.45, topK: 200 });
// Evaluation setting (minScore 0.01): thousands of candidates per class, the heavy case.
const evaluation = timeMs(50, () => post.run(locs, logits, { minScore: 0.01, maxOverlap: 0.45, topK: 200 }));

console.log(JSON.stringify({
  node: process.version,
  priors: nPriors,
  matching_ms: { objects: nObjects, ...matching },
  postprocess_ms: { classes: nClasses, minScore: 0.2, detections: last.count, ...display },
  postprocess_min_score_0_01_ms: { classes: nClasses, minScore: 0.01, ...evaluation },
}));
