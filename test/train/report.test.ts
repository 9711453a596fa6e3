import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateDetections } from '../../src/eval/evaluate.js';
import type { MetricsRecord } from '../../src/train/metrics-log.js';
import { renderReport } from '../../src/train/report.js';
import { barChart, downsample, lineChart, niceTicks } from '../../src/train/svg.js';

test('nice ticks are round, evenly spaced and cover the range', () => {
  for (const [lo, hi] of [[0, 1], [0, 27.3], [3, 117], [0.001, 0.0042], [-5, 5]] as const) {
    const t = niceTicks(lo, hi);
    assert.ok(t.length >= 3 && t.length <= 11, `${lo}..${hi}: ${t}`);
    assert.ok(t[0]! >= lo - 1e-12 && t[t.length - 1]! <= hi + 1e-12);
    const step = t[1]! - t[0]!;
    const mantissa = step / 10 ** Math.floor(Math.log10(step));
    assert.ok([1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-9), `step ${step} is 1, 2 or 5 times a power of ten`);
  }
});

test('downsampling keeps the mean of each bucket and the x order', () => {
  const x = Float64Array.from({ length: 1000 }, (_, i) => i + 1);
  const y = Float64Array.from({ length: 1000 }, (_, i) => i % 2);
  const d = downsample(x, y, 100);
  assert.equal(d.x.length, 100);
  for (let i = 0; i < 100; i++) assert.equal(d.y[i], 0.5);
  for (let i = 1; i < 100; i++) assert.ok(d.x[i]! > d.x[i - 1]!);
});

test('charts are SVG with escaped labels; the report shows losses, mAP over time, AP bars and PR curves', () => {
  const svg = lineChart([{ name: 'a<b', x: [1, 2, 3], y: [3, 2, NaN] }], { title: 'T & U', xLabel: 'step', yLabel: 'loss' });
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.ok(svg.includes('T &amp; U') && svg.includes('a&lt;b') && !svg.includes('a<b'));
  assert.match(barChart(['cat'], [null], { title: 'AP' }), /n\/a/);

  const records: MetricsRecord[] = [];
  for (let s = 1; s <= 50; s++) records.push({ type: 'step', step: s, epoch: 0, loss: 10 / s, loc_loss: 4 / s, conf_loss: 6 / s, lr: 1e-3, images_per_s: 3, time: '' });
  records.push({ type: 'eval', step: 25, epoch: 0, metric: 'voc07', map: 0.2, ap_per_class: {}, time: '' });
  records.push({ type: 'eval', step: 50, epoch: 1, metric: 'voc07', map: 0.4, ap_per_class: {}, time: '' });
  const evaluation = evaluateDetections(
    [{ detections: { boxes: [0, 0, 10, 10, 50, 50, 60, 60], labels: [1, 2], scores: [0.9, 0.8] }, groundTruth: { boxes: [0, 0, 10, 10, 20, 20, 30, 30], labels: [1, 2] } }],
    { metric: 'voc07', numClasses: 2, classNames: ['cat', 'dog'] },
  );
  const html = renderReport({ title: 'run <1>', records, evaluation, evaluationStep: 50, facts: { model: 'ssd-tiny' } });
  assert.ok(html.includes('<title>run &lt;1&gt;</title>'));
  assert.equal((html.match(/<svg /g) ?? []).length, 6, 'loss, lr, mAP, AP bars, and two PR curves');
  assert.match(html, /best mAP<\/th><td>0\.4000 \(voc07, step 50\)/);
  assert.match(html, />cat \(AP 1\.000\)</);
  assert.match(html, />dog \(AP 0\.000\)</);
  assert.ok(!/<script/i.test(html), 'no scripts: the report is static');
  // Without the evaluation object (a resumed run), the AP bars come from the log's last evaluation.
  records[records.length - 1] = { type: 'eval', step: 50, epoch: 1, metric: 'voc07', map: 0.4, ap_per_class: { cat: 0.5, dog: 0.3 }, time: '' };
  const resumed = renderReport({ title: 'r', records });
  assert.match(resumed, /AP per class at step 50 \(voc07, mAP 0\.4000\)/);
  assert.match(resumed, />0\.500</);
  assert.match(resumed, />0\.300</);
});
