// Suggested priors: what is reported is what measuring the suggested config gives, it never does worse than the
// config it replaces, it comes from the objects' own sizes and shapes, and the reach limit is what its geometry says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SSD300_PRIORS, iouOfCorners } from '../../src/boxes/index.js';
import { measurePriorFit, type FitImage } from '../../src/boxes/prior-fit.js';
import { niceRatio, suggestPriors } from '../../src/boxes/prior-suggest.js';
import { Random } from '../../src/data/random.js';

/** Images of 400x300 px holding objects of one size range and aspect range (fractions of the image). */
function images(seed: number, count: number, size: [number, number], ratio: [number, number]): FitImage[] {
  const r = new Random(seed);
  const out: FitImage[] = [];
  for (let i = 0; i < count; i++) {
    const boxes: number[] = [];
    for (let j = 0; j < 3; j++) {
      const s = size[0] + (size[1] - size[0]) * r.next();
      const a = Math.exp(Math.log(ratio[0]) + (Math.log(ratio[1]) - Math.log(ratio[0])) * r.next());
      const w = Math.min(0.99, s * Math.sqrt(a)), h = Math.min(0.99, s / Math.sqrt(a));
      const x = r.next() * (1 - w), y = r.next() * (1 - h);
      boxes.push(x * 400, y * 300, (x + w) * 400, (y + h) * 300);
    }
    out.push({ id: String(i), width: 400, height: 300, boxes: Float32Array.from(boxes) });
  }
  return out;
}

test("small, wide objects: SSD300's priors fit poorly, the suggestion reaches more of them, and says so truthfully", () => {
  const data = images(3, 200, [0.06, 0.12], [3, 6]);
  const fit = measurePriorFit(SSD300_PRIORS, data);
  assert.ok(fit.matchedShare < 0.9, `SSD300 reaches ${fit.matchedShare}`);
  const s = suggestPriors(SSD300_PRIORS, fit)!;
  // Reported figures are the config's own, measured again through measurePriorFit.
  const again = measurePriorFit(s.config, data);
  assert.equal(s.matchedShare, again.matchedShare);
  assert.ok(Math.abs(s.meanBestIou - again.meanBestIou) < 1e-9);
  // 600 objects: all of them were the sample, and the current config was a candidate.
  assert.ok(s.matchedShare >= fit.matchedShare + 0.05, `${s.matchedShare} vs ${fit.matchedShare}`);
  // The maps are the network's; scales and ratios come from the data.
  assert.deepEqual(s.config.featureMapSizes, SSD300_PRIORS.featureMapSizes);
  assert.ok(s.config.scales[0]! >= s.sizes.q05 * 0.5 && s.config.scales.at(-1)! <= 1, `scales ${s.config.scales}`);
  for (const ratios of s.config.aspectRatios) assert.ok(ratios.includes(1), 'ratio 1, which the extra prior follows');
  assert.ok(s.ratios.q05 >= 3 * 0.99 && s.ratios.q95 <= 6 * 1.01, `ratios ${JSON.stringify(s.ratios)}`);
  assert.ok(s.config.aspectRatios.some((set) => set.some((r) => r >= 3)), "wide priors for wide objects");
  assert.equal(suggestPriors(SSD300_PRIORS, measurePriorFit(SSD300_PRIORS, [])), undefined);
});

test('the reach limit: a square prior of an object\'s own size, half a step off in x and y, has IoU = threshold', () => {
  for (const t of [0.5, 0.7]) {
    const fit = measurePriorFit(SSD300_PRIORS, images(1, 5, [0.2, 0.3], [1, 1]), { threshold: t });
    const { size } = suggestPriors(SSD300_PRIORS, fit)!.reach;
    const d = 1 / 38 / 2; // half the 38x38 map's step
    const iou = iouOfCorners(0, 0, size, size, d, d, d + size, d + size);
    assert.ok(Math.abs(iou - t) < 1e-5, `threshold ${t}: size ${size}, IoU ${iou}`);
  }
});

test('niceRatio rounds to halves and their reciprocals', () => {
  assert.deepEqual([1.1, 1.3, 1.8, 2.9, 0.7, 0.45, 0.33, 0.3].map(niceRatio), [1, 1.5, 2, 3, 1 / 1.5, 1 / 2, 1 / 3, 1 / 3.5]);
});
