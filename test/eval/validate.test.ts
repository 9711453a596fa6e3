// Bad input is refused with a message naming the image, the field and the item.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateDetections, type EvaluateOptions, type ImageResult } from '../../src/eval/index.js';

const ok = (): ImageResult => ({
  groundTruth: { boxes: Float32Array.of(0, 0, 1, 1), labels: Int32Array.of(1), difficult: Uint8Array.of(0) },
  detections: { boxes: Float32Array.of(0, 0, 1, 1), labels: Int32Array.of(1), scores: Float32Array.of(0.9) },
});
const opts: EvaluateOptions = { metric: 'voc07', numClasses: 2 };

/** Evaluates [ok(), broken] and asserts the error message. */
function rejects(change: (im: ImageResult) => void, message: string, options: EvaluateOptions = opts): void {
  const bad = ok();
  change(bad);
  assert.throws(() => evaluateDetections([ok(), bad], options), (e: Error) => {
    assert.equal(e.message, message);
    return true;
  });
}

test('non-finite and inverted boxes name the image, field and box', () => {
  rejects(
    (im) => (im.detections.boxes = Float32Array.of(0, NaN, 1, 1)),
    'images[1].detections.boxes: box 0 [0, NaN, 1, 1]: not a finite number (NaN or Infinity)',
  );
  rejects(
    (im) => (im.groundTruth.boxes = Float32Array.of(0.5, 0, 0.2, 1)),
    'images[1].groundTruth.boxes: box 0 [0.5, 0, 0.2, 1]: xmax < xmin',
  );
  rejects(
    (im) => (im.groundTruth.boxes = Float32Array.of(0, 0.5, 1, Infinity)),
    'images[1].groundTruth.boxes: box 0 [0, 0.5, 1, Infinity]: not a finite number (NaN or Infinity)',
  );
});

test('an inverted detection box is legal and counts as a false positive (it overlaps nothing)', () => {
  const im = ok();
  // Ranked first, it is a FP; the real match comes second: precision 1/2 at recall 1 -> every 11-point reads 1/2.
  im.detections = { boxes: Float32Array.of(1, 1, 0, 0, 0, 0, 1, 1), labels: Int32Array.of(1, 1), scores: Float32Array.of(0.9, 0.8) };
  assert.equal(evaluateDetections([im], opts).map, 0.5);
});

test('lengths must agree', () => {
  rejects((im) => (im.detections.boxes = Float32Array.of(0, 0, 1)), 'images[1].detections.boxes: length 3, expected 4 * labels.length = 4');
  rejects((im) => (im.detections.scores = Float32Array.of(0.9, 0.8)), 'images[1].detections.scores: length 2, expected labels.length = 1');
  rejects((im) => (im.groundTruth.difficult = Uint8Array.of()), 'images[1].groundTruth.difficult: length 0, expected labels.length = 1');
  rejects((im) => (im.groundTruth.boxes = Float32Array.of()), 'images[1].groundTruth.boxes: length 0, expected 4 * labels.length = 4');
});

test('labels must be object classes 1..numClasses', () => {
  rejects(
    (im) => (im.detections.labels = Int32Array.of(0)),
    'images[1].detections.labels: label 0 is 0, expected an integer in 1..2 (0 is background, not an object class)',
  );
  rejects(
    (im) => (im.groundTruth.labels = Int32Array.of(3)),
    'images[1].groundTruth.labels: label 0 is 3, expected an integer in 1..2 (numClasses counts object classes, background not included)',
  );
  rejects((im) => (im.groundTruth.labels = [1.5]), 'images[1].groundTruth.labels: label 0 is 1.5, expected an integer in 1..2');
});

test('scores must be finite', () => {
  rejects((im) => (im.detections.scores = Float32Array.of(NaN)), 'images[1].detections.scores: score 0 is NaN, expected a finite number');
});

test('missing parts and bad options', () => {
  rejects((im) => delete (im as Partial<ImageResult>).groundTruth, 'images[1].groundTruth: missing (expected {boxes, labels, difficult?})');
  assert.throws(() => evaluateDetections([ok()], { metric: 'voc07', numClasses: 0 }), /numClasses must be a positive integer/);
  assert.throws(() => evaluateDetections([ok()], { metric: 'map' as 'voc', numClasses: 2 }), /metric must be 'voc07', 'voc' or 'coco', got "map"/);
  assert.throws(
    () => evaluateDetections([ok()], { metric: 'voc07', numClasses: 2, classNames: ['background', 'cat', 'dog'] }),
    /classNames has 3 names, expected numClasses = 2 \(background not included\)/,
  );
  assert.throws(() => evaluateDetections([ok()], { metric: 'coco', numClasses: 2, iouThreshold: 0.5 }), /iouThreshold applies to 'voc07' and 'voc'/);
  assert.throws(() => evaluateDetections([ok()], { metric: 'coco', numClasses: 2, maxDets: 0 }), /maxDets must be a positive integer, got 0/);
  assert.throws(() => evaluateDetections([ok()], { metric: 'voc', numClasses: 2, iouThreshold: 1.5 }), /iouThreshold must be in \[0, 1\), got 1.5/);
});

test('images with no objects or no detections are legal', () => {
  const empty: ImageResult = { groundTruth: { boxes: [], labels: [] }, detections: { boxes: [], labels: [], scores: [] } };
  for (const metric of ['voc07', 'voc', 'coco'] as const) {
    const r = evaluateDetections([ok(), empty], { metric, numClasses: 2 });
    assert.deepEqual(r.apPerClass, [1, null]);
    assert.equal(r.map, 1);
    // A detection in an image without objects is a false positive: precision halves once recall is 1.
    const fp: ImageResult = { groundTruth: empty.groundTruth, detections: { boxes: [0, 0, 1, 1], labels: [1], scores: [0.95] } };
    assert.ok((evaluateDetections([ok(), fp], { metric, numClasses: 2 }).map as number) < 1);
  }
  assert.equal(evaluateDetections([], opts).map, null);
});

test('classNames are reported, defaults name the class number', () => {
  assert.deepEqual(evaluateDetections([ok()], opts).classNames, ['class 1', 'class 2']);
  assert.deepEqual(evaluateDetections([ok()], { ...opts, classNames: ['cat', 'dog'] }).classNames, ['cat', 'dog']);
});
