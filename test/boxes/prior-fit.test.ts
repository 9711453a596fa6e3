// The prior fit against brute force: each object's best IoU and best prior equal the maximum over every prior
// computed naively (float32 IoU, first prior on ties), and the matched share agrees with the Matcher's assignment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoxCoder, Matcher, SSD300_PRIORS, generatePriors, cxcyToXy, iouOfCorners, type PriorConfig } from '../../src/boxes/index.js';
import { PriorGrid } from '../../src/boxes/prior-grid.js';
import { measurePriorFit, quantile, type FitImage } from '../../src/boxes/prior-fit.js';
import { Random } from '../../src/data/random.js';
import { TORCHVISION_SSD300_PRIORS } from '../../src/nn/import/torchvision.js';
import { SSD512_PRIORS } from '../../src/nn/models/ssd512.js';
import { ssdlitePriors } from '../../src/nn/models/ssdlite.js';
import { ssdTinyPriors } from '../../src/nn/models/ssd-tiny.js';

/** Centres past the image clamp to 1 and repeat: the grid must still pick the first of equal priors. */
const CLAMPED: PriorConfig = { featureMapSizes: [5, 3], scales: [0.3, 0.6], aspectRatios: [[1, 2, 0.5], [1, 3]], extraPrior: true, clip: true, steps: [0.3, 0.5] };

const CONFIGS: Array<[string, PriorConfig]> = [
  ['ssd300', SSD300_PRIORS],
  ['ssd512', SSD512_PRIORS],
  ['torchvision ssd300 (centres not clamped)', TORCHVISION_SSD300_PRIORS],
  ['ssdlite 320', ssdlitePriors(320)],
  ['ssd-tiny 96', ssdTinyPriors(96)],
  ['clamped centres', CLAMPED],
];

/** Boxes as a dataset has them: log-uniform sizes from a pixel of a 600 px image to the whole image, any aspect,
 *  plus the cases where ties are exact: boxes equal to priors, the whole image, boxes on the maps' grid lines. */
function objects(rand: Random, priors: Float32Array, n: number): Float32Array {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const kind = rand.next();
    if (kind < 0.1) {
      const p = Math.floor(rand.next() * (priors.length / 4));
      const xy = cxcyToXy(priors.subarray(4 * p, 4 * p + 4));
      out.push(Math.max(0, xy[0]!), Math.max(0, xy[1]!), Math.min(1, xy[2]!), Math.min(1, xy[3]!));
    } else if (kind < 0.13) {
      out.push(0, 0, 1, 1);
    } else if (kind < 0.25) {
      const cells = [2, 3, 4, 5, 8, 10];
      const c = cells[Math.floor(rand.next() * cells.length)]!;
      const a = Math.floor(rand.next() * c), b = a + 1 + Math.floor(rand.next() * (c - a));
      const d = Math.floor(rand.next() * c), e = d + 1 + Math.floor(rand.next() * (c - d));
      out.push(a / c, d / c, b / c, e / c);
    } else {
      const size = Math.exp(Math.log(1 / 600) + rand.next() * Math.log(600));
      const ratio = Math.exp((rand.next() * 2 - 1) * Math.log(4));
      const w = Math.min(1, size * Math.sqrt(ratio)), h = Math.min(1, size / Math.sqrt(ratio));
      const x = rand.next() * (1 - w), y = rand.next() * (1 - h);
      out.push(x, y, x + w, y + h);
    }
  }
  return Float32Array.from(out);
}

/** The best prior of a box by trying every prior: float32 IoU, the first prior on ties. */
function naiveBest(xy: Float32Array, b: Float32Array, o: number): { prior: number; iou: number } {
  let best = 0, prior = 0;
  for (let p = 0; p < xy.length / 4; p++) {
    const v = iouOfCorners(xy[4 * p]!, xy[4 * p + 1]!, xy[4 * p + 2]!, xy[4 * p + 3]!, b[4 * o]!, b[4 * o + 1]!, b[4 * o + 2]!, b[4 * o + 3]!);
    if (v > best) {
      best = v;
      prior = p;
    }
  }
  return { prior, iou: best };
}

for (const [name, config] of CONFIGS) {
  test(`${name}: every object's best IoU and best prior are the maximum over all priors, computed naively`, () => {
    const grid = new PriorGrid(config);
    const boxes = objects(new Random(7), grid.cxcy, 600);
    for (let o = 0; o < boxes.length / 4; o++) {
      const got = grid.best(boxes[4 * o]!, boxes[4 * o + 1]!, boxes[4 * o + 2]!, boxes[4 * o + 3]!);
      const want = naiveBest(grid.xy, boxes, o);
      assert.equal(got.iou, want.iou, `object ${o} [${Array.from(boxes.subarray(4 * o, 4 * o + 4))}]: IoU`);
      assert.equal(got.prior, want.prior, `object ${o} [${Array.from(boxes.subarray(4 * o, 4 * o + 4))}]: prior`);
    }
  });
}

test("the matched share is the Matcher's: an object is matched when the Matcher gives it a prior at IoU >= threshold", () => {
  const rand = new Random(11);
  const priors = generatePriors(SSD300_PRIORS);
  const matcher = new Matcher(new BoxCoder(priors), { threshold: 0.5 });
  const xy = cxcyToXy(priors);
  const images: FitImage[] = [];
  for (let i = 0; i < 120; i++) {
    const n = i < 80 ? 1 : 2 + Math.floor(rand.next() * 4);
    const width = 200 + Math.floor(rand.next() * 400), height = 200 + Math.floor(rand.next() * 400);
    const b = objects(rand, priors, n);
    // In pixels of a width x height image; labels 1..n so that the Matcher's classes say which object a prior serves.
    images.push({ id: `im${i}`, width, height, boxes: b.map((v, k) => v * (k % 2 === 0 ? width : height)), labels: Int32Array.from({ length: n }, (_, k) => k + 1) });
  }
  const fit = measurePriorFit(SSD300_PRIORS, images, { threshold: 0.5 });
  let o = 0, single = 0, forced = 0;
  for (const im of images) {
    const n = im.boxes.length / 4;
    const boxes = fit.boxes.subarray(4 * o, 4 * (o + n));
    const { classes } = matcher.match(boxes, im.labels!);
    for (let j = 0; j < n; j++, o++) {
      const served: number[] = [];
      for (let p = 0; p < classes.length; p++) if (classes[p] === j + 1) served.push(p);
      const atThreshold = served.some((p) => iouOfCorners(xy[4 * p]!, xy[4 * p + 1]!, xy[4 * p + 2]!, xy[4 * p + 3]!, boxes[4 * j]!, boxes[4 * j + 1]!, boxes[4 * j + 2]!, boxes[4 * j + 3]!) >= Math.fround(0.5));
      const matched = fit.bestIou[o]! >= Math.fround(0.5);
      if (n === 1) {
        single++;
        assert.equal(atThreshold, matched, `image ${im.id}`);
        // An object no prior reaches gets exactly the prior the Matcher forces onto it: the fit's best prior.
        if (!matched) {
          forced++;
          assert.deepEqual(served, [fit.bestPrior[o]], `image ${im.id}`);
        }
      } else if (atThreshold) {
        // With other objects competing for priors, the Matcher can only take priors away.
        assert.ok(matched, `image ${im.id} object ${j}`);
      }
    }
  }
  assert.equal(single, 80);
  assert.ok(forced > 5 && forced < 75, `${forced} single objects unreached: the test covers both sides`);
  assert.equal(fit.matched + fit.unreached, fit.objects);
  assert.equal(fit.histogram.reduce((a, b) => a + b, 0), fit.objects);
  assert.equal(fit.maps.reduce((a, m) => a + m.objects, 0), fit.objects);
  assert.equal(fit.maps.reduce((a, m) => a + m.matched, 0), fit.matched);
});

test('statistics: histogram, per-map counts and the worst unreached objects, named', () => {
  // Three objects in a 100 x 200 image: one equal to a prior of the 19x19 map (IoU 1), one far smaller than any prior,
  // one left out as difficult.
  const priors = generatePriors(SSD300_PRIORS);
  const p = 38 * 38 * 4 + (9 * 19 + 9) * 6; // the first prior at row 9, column 9 of the 19x19 map: ratio 1, scale 0.2
  const [cx, cy, w, h] = priors.subarray(4 * p, 4 * p + 4) as unknown as number[];
  const image: FitImage = {
    id: '7', imagePath: 'img/7.jpg', width: 100, height: 200,
    boxes: Float32Array.from([(cx! - w! / 2) * 100, (cy! - h! / 2) * 200, (cx! + w! / 2) * 100, (cy! + h! / 2) * 200, 10, 10, 11, 11, 0, 0, 50, 50]),
    labels: [1, 2, 1], difficult: [0, 0, 1],
  };
  const fit = measurePriorFit(SSD300_PRIORS, [image], { ignoreDifficult: true, classNames: ['cat', 'dot'] });
  assert.equal(fit.objects, 2);
  assert.ok(Math.abs(fit.bestIou[0]! - 1) < 1e-5);
  assert.equal(fit.maps[1]!.objects, 1);
  assert.equal(fit.maps[1]!.matched, 1);
  assert.equal(fit.histogram[9], 1);
  assert.equal(fit.matched, 1);
  assert.equal(fit.unreached, 1);
  assert.deepEqual(fit.examples.map((e) => [e.imagePath, e.index, e.className, e.box]), [['img/7.jpg', 1, 'dot', [10, 10, 11, 11]]]);
  // A 1x1 px box in a 100x200 image: 0.01 x 0.005 of the input; SSD300's smallest prior is 0.1 wide.
  const small = 0.01 * 0.005;
  assert.ok(Math.abs(fit.examples[0]!.bestIou - small / (0.1 * 0.1)) < 1e-4, `best IoU ${fit.examples[0]!.bestIou}`);
  assert.equal(measurePriorFit(SSD300_PRIORS, [image]).objects, 3);
  assert.throws(() => measurePriorFit(SSD300_PRIORS, [{ ...image, boxes: Float32Array.from([5, 5, 5, 9]) }]), /image '7', object 0: box \[5, 5, 5, 9\] is not a box/);
  assert.throws(() => measurePriorFit(SSD300_PRIORS, [image], { threshold: 0 }), /threshold must be in \(0, 1\]/);
  assert.equal(quantile([3, 1, 2, 4], 0.5), 2.5);
});
