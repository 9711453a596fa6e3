// How well a prior config fits a dataset's objects, as the PyTorch tutorial's "visualising priors" asks by eye:
// each object's best IoU with any prior, the share that some prior reaches at the training threshold (the
// Matcher's positives beyond the one prior it forces onto every object), which map answers for each object, and
// the objects no prior reaches. Objects are taken as the network sees them: boxes divided by the image's width and
// height, since images are stretched to the square input.
import { PriorGrid } from './prior-grid.js';
import type { PriorConfig } from './priors.js';

const f = Math.fround;

/** Below this share of objects matched at the threshold, a fit is called poor (and `ssd priors` suggests priors). */
export const GOOD_PRIOR_FIT = 0.95;

/** One image's objects, in pixels of the stored image (a dataset Sample has these fields). */
export interface FitImage {
  id: string;
  /** Names the image in the list of unreached objects. */
  imagePath?: string;
  width: number;
  height: number;
  /** n boxes `[xmin, ymin, xmax, ymax]` in pixels. */
  boxes: Float32Array;
  /** n labels, 1-based into `classNames`. */
  labels?: ArrayLike<number>;
  /** n flags: 1 marks objects left out with `ignoreDifficult` (COCO crowd regions, which training leaves out). */
  difficult?: ArrayLike<number>;
}

/** Options of {@link measurePriorFit}. */
export interface PriorFitOptions {
  /** The IoU at which a prior answers for an object in training (the Matcher's threshold). Default 0.5. */
  threshold?: number;
  /** Leave out objects flagged difficult. Default false. */
  ignoreDifficult?: boolean;
  /** Class names by label - 1, to name unreached objects. */
  classNames?: readonly string[];
  /** How many unreached objects to name, the worst first. Default 5. */
  examples?: number;
}

/** An object no prior reaches at the threshold. */
export interface UnreachedObject {
  imageId: string;
  imagePath?: string;
  /** The object's index in its image. */
  index: number;
  className?: string;
  /** `[xmin, ymin, xmax, ymax]` in pixels of the image. */
  box: [number, number, number, number];
  bestIou: number;
}

/** What one feature map answers for: the objects whose best prior lies on it. */
export interface MapFit {
  /** Side of the map. */
  side: number;
  /** The map's prior scale (fraction of the input side). */
  scale: number;
  /** Its priors. */
  priors: number;
  /** Objects whose best prior lies on this map. */
  objects: number;
  /** Of those, the ones whose best IoU reaches the threshold. */
  matched: number;
  /** Their sizes, sqrt(w h) as a fraction of the input side: 10th, 50th and 90th percentile (undefined without objects). */
  sizes?: [number, number, number];
}

/** The fit of a prior config to a set of objects. */
export interface PriorFit {
  threshold: number;
  images: number;
  /** Objects measured. */
  objects: number;
  /** Objects whose best IoU with a prior reaches the threshold. */
  matched: number;
  /** matched / objects (1 when there are no objects). */
  matchedShare: number;
  meanBestIou: number;
  medianBestIou: number;
  /** Objects per best-IoU bin of width 0.1: [0, 0.1), ..., [0.9, 1.0]. */
  histogram: number[];
  /** Per feature map, in config order. */
  maps: MapFit[];
  /** objects - matched. */
  unreached: number;
  /** The worst unreached objects (lowest best IoU first), up to `examples`. */
  examples: UnreachedObject[];
  /** Per object, in image order: boxes as fractions of the image `[x1, y1, x2, y2]` (4 per object). */
  boxes: Float32Array;
  /** Per object: its best IoU with a prior, and that prior (the first on ties, as the Matcher picks it). */
  bestIou: Float32Array;
  bestPrior: Int32Array;
  /** Per object: size sqrt(w h) and aspect ratio w / h, as fractions of the (square) input. */
  sizes: Float32Array;
  ratios: Float32Array;
}

/** A fit without its per-object arrays: what a report prints or serialises. */
export type PriorFitSummary = Omit<PriorFit, 'boxes' | 'bestIou' | 'bestPrior' | 'sizes' | 'ratios'>;

/** The fit's figures, without the per-object arrays. */
export function fitSummary(fit: PriorFit): PriorFitSummary {
  const { boxes: _boxes, bestIou: _bestIou, bestPrior: _bestPrior, sizes: _sizes, ratios: _ratios, ...summary } = fit;
  return summary;
}

/** The p-quantile (0..1) of `values`, linear between order statistics (numpy's default); NaN when empty. */
export function quantile(values: ArrayLike<number>, p: number, sorted = false): number {
  const v = sorted ? values : Float64Array.from(values).sort();
  if (v.length === 0) return NaN;
  const at = p * (v.length - 1);
  const lo = Math.floor(at), hi = Math.ceil(at);
  return v[lo]! + (v[hi]! - v[lo]!) * (at - lo);
}

/** The objects of `images` as fractions of their images, with where each came from; errors name the bad box. */
export function fitObjects(images: readonly FitImage[], ignoreDifficult = false): { boxes: Float32Array; image: Int32Array; index: Int32Array } {
  let n = 0;
  for (const im of images) {
    if (im.boxes.length % 4 !== 0) throw new Error(`image '${im.id}': ${im.boxes.length} box values, not a multiple of 4`);
    for (let j = 0; j < im.boxes.length / 4; j++) if (!(ignoreDifficult && im.difficult?.[j])) n++;
  }
  const boxes = new Float32Array(4 * n), image = new Int32Array(n), index = new Int32Array(n);
  let o = 0;
  images.forEach((im, k) => {
    if (!(im.width > 0 && im.height > 0 && Number.isFinite(im.width) && Number.isFinite(im.height))) throw new Error(`image '${im.id}': size ${im.width}x${im.height} is not positive`);
    for (let j = 0; j < im.boxes.length / 4; j++) {
      if (ignoreDifficult && im.difficult?.[j]) continue;
      const [x1, y1, x2, y2] = im.boxes.subarray(4 * j, 4 * j + 4) as unknown as [number, number, number, number];
      if (![x1, y1, x2, y2].every(Number.isFinite) || !(x2 > x1 && y2 > y1)) throw new Error(`image '${im.id}', object ${j}: box [${x1}, ${y1}, ${x2}, ${y2}] is not a box with xmax > xmin and ymax > ymin`);
      boxes[4 * o] = f(x1 / im.width);
      boxes[4 * o + 1] = f(y1 / im.height);
      boxes[4 * o + 2] = f(x2 / im.width);
      boxes[4 * o + 3] = f(y2 / im.height);
      image[o] = k;
      index[o] = j;
      o++;
    }
  });
  return { boxes, image, index };
}

/** Best IoU and best prior of each box (fractions, 4 per box) with the priors of `grid`. */
export function bestPriors(grid: PriorGrid, boxes: Float32Array): { iou: Float32Array; prior: Int32Array } {
  const n = boxes.length / 4;
  const iou = new Float32Array(n), prior = new Int32Array(n);
  for (let o = 0; o < n; o++) {
    const b = grid.best(boxes[4 * o]!, boxes[4 * o + 1]!, boxes[4 * o + 2]!, boxes[4 * o + 3]!);
    iou[o] = b.iou;
    prior[o] = b.prior;
  }
  return { iou, prior };
}

/**
 * Measures how well the priors of `config` fit the objects of `images`: see {@link PriorFit}. Time grows with the
 * objects times the prior shapes (PriorGrid: about 110 IoUs an object for SSD300's 34 shapes, not 8732).
 */
export function measurePriorFit(config: PriorConfig, images: readonly FitImage[], options: PriorFitOptions = {}): PriorFit {
  const threshold = options.threshold ?? 0.5;
  if (!(threshold > 0 && threshold <= 1)) throw new Error(`prior fit: threshold must be in (0, 1], got ${threshold}`);
  const grid = new PriorGrid(config);
  const { boxes, image, index } = fitObjects(images, options.ignoreDifficult);
  const n = boxes.length / 4;
  const { iou: bestIou, prior: bestPrior } = bestPriors(grid, boxes);
  const sizes = new Float32Array(n), ratios = new Float32Array(n);
  for (let o = 0; o < n; o++) {
    const w = boxes[4 * o + 2]! - boxes[4 * o]!, h = boxes[4 * o + 3]! - boxes[4 * o + 1]!;
    sizes[o] = Math.sqrt(w * h);
    ratios[o] = w / h;
  }

  const histogram = new Array<number>(10).fill(0);
  const perMap = config.featureMapSizes.map(() => ({ objects: 0, matched: 0, sizes: [] as number[] }));
  let matched = 0, sum = 0;
  const unreached: number[] = [];
  for (let o = 0; o < n; o++) {
    const v = bestIou[o]!;
    histogram[Math.min(9, Math.floor(v * 10))]!++;
    sum += v;
    const m = perMap[grid.mapOf(bestPrior[o]!)]!;
    m.objects++;
    m.sizes.push(sizes[o]!);
    if (v >= f(threshold)) {
      matched++;
      m.matched++;
    } else unreached.push(o);
  }
  unreached.sort((a, b) => bestIou[a]! - bestIou[b]! || a - b);
  const examples = unreached.slice(0, options.examples ?? 5).map((o): UnreachedObject => {
    const im = images[image[o]!]!;
    const j = index[o]!;
    const label = im.labels?.[j];
    const box = Array.from(im.boxes.subarray(4 * j, 4 * j + 4)) as [number, number, number, number];
    return {
      imageId: im.id,
      ...(im.imagePath !== undefined ? { imagePath: im.imagePath } : {}),
      index: j,
      ...(label !== undefined && options.classNames?.[label - 1] !== undefined ? { className: options.classNames[label - 1] } : {}),
      box,
      bestIou: bestIou[o]!,
    };
  });
  return {
    threshold,
    images: images.length,
    objects: n,
    matched,
    matchedShare: n > 0 ? matched / n : 1,
    meanBestIou: n > 0 ? sum / n : NaN,
    medianBestIou: quantile(bestIou, 0.5),
    histogram,
    maps: perMap.map((m, k) => {
      const sorted = Float64Array.from(m.sizes).sort();
      return {
        side: config.featureMapSizes[k]!,
        scale: config.scales[k]!,
        priors: grid.mapRange(k).count,
        objects: m.objects,
        matched: m.matched,
        ...(m.objects > 0 ? { sizes: [quantile(sorted, 0.1, true), quantile(sorted, 0.5, true), quantile(sorted, 0.9, true)] as [number, number, number] } : {}),
      };
    }),
    unreached: n - matched,
    examples,
    boxes,
    bestIou,
    bestPrior,
    sizes,
    ratios,
  };
}
