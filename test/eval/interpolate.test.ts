// The three AP interpolations on curves whose values follow from their definitions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allPointAp, cocoInterpolatedAp, COCO_RECALL_THRESHOLDS, elevenPointAp } from '../../src/eval/index.js';

test('one point (recall r, precision 1)', () => {
  for (const r of [0, 0.25, 0.3, 0.7, 1]) {
    // 11-point: thresholds 0, 0.1, .. <= r read 1: floor(10 r) + 1 of 11 (0.3 and 0.7 included exactly).
    assert.equal(elevenPointAp([r], [1]), (Math.floor(10 * r + 1e-9) + 1) / 11, `11-point r=${r}`);
    // All-point: a rectangle of width r, height 1.
    assert.equal(allPointAp([r], [1]), r, `all-point r=${r}`);
  }
});

test("101-point reads 0 past the last recall; numpy's 0.5700000000000001 threshold is kept", () => {
  assert.equal(COCO_RECALL_THRESHOLDS.length, 101);
  assert.equal(COCO_RECALL_THRESHOLDS[100], 1);
  // Thresholds 0, 0.01, ..., 0.50 are <= 0.5: 51 of 101.
  assert.equal(cocoInterpolatedAp([0.5], [1]), 51 / 101);
  // 0.57 reaches thresholds 0 .. 0.56 only: pycocotools' 57th threshold is 57 * 0.01 = 0.5700000000000001.
  assert.equal(COCO_RECALL_THRESHOLDS[57], 0.5700000000000001);
  assert.equal(cocoInterpolatedAp([0.57], [1]), 57 / 101);
  assert.equal(cocoInterpolatedAp([1], [0.25]), 0.25);
});

test('precision is taken from the envelope (the best precision at any higher recall)', () => {
  // recall .5 at precision .5, then recall 1 at precision 1: envelope is 1 everywhere.
  const recall = [0.5, 1];
  const precision = [0.5, 1];
  assert.equal(elevenPointAp(recall, precision), 1);
  assert.equal(allPointAp(recall, precision), 1);
  assert.equal(cocoInterpolatedAp(recall, precision), 1);
  // recall .5 at 1, recall 1 at .5: all-point = .5 * 1 + .5 * .5 = .75; 11-point (6 * 1 + 5 * .5) / 11.
  assert.equal(allPointAp([0.5, 1], [1, 0.5]), 0.75);
  assert.equal(elevenPointAp([0.5, 1], [1, 0.5]), 8.5 / 11);
  // 101-point: 51 thresholds read 1, 50 read .5.
  assert.equal(cocoInterpolatedAp([0.5, 1], [1, 0.5]), (51 + 25) / 101);
});

test('empty curve gives 0', () => {
  assert.equal(elevenPointAp([], []), 0);
  assert.equal(allPointAp([], []), 0);
  assert.equal(cocoInterpolatedAp([], []), 0);
});
