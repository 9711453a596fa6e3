// The text table lists every class, '-' for classes without ground truth, and the mean.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateDetections, formatEvaluation } from '../../src/eval/index.js';
import { image } from './helpers.js';

test('formatEvaluation shows AP in percent, counts, and the mean', () => {
  // Class 1 found once of twice at precision 1: 11-point reads 1 for t = 0..0.5 -> 6/11 = 54.55%.
  const im = image(
    [
      { box: [0, 0, 10, 10], label: 1 },
      { box: [20, 20, 30, 30], label: 1 },
    ],
    [{ box: [0, 0, 10, 10], label: 1, score: 0.9 }],
  );
  const r = evaluateDetections([im], { metric: 'voc07', numClasses: 2, classNames: ['cat', 'dog'] });
  const lines = formatEvaluation(r).split('\n');
  assert.equal(lines.length, 4);
  assert.match(lines[1], /^cat\s+54\.55\s+2\s+1$/);
  assert.match(lines[2], /^dog\s+-\s+0\s+0$/);
  assert.equal(lines[3], 'mAP (VOC07 11-point): 54.55');
  const coco = formatEvaluation(evaluateDetections([im], { metric: 'coco', numClasses: 2 }));
  assert.match(coco, /AP50\s+AP75/);
  assert.match(coco, /mAP@\[\.5:\.95\]: [\d.]+ {2}mAP50: [\d.]+ {2}mAP75: [\d.]+/);
});
