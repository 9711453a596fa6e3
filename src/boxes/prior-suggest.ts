// Priors derived from the data, for when a config fits its objects poorly: the network's maps stay (they are its
// feature maps), the scales and aspect ratios are chosen from the objects' own sizes and shapes. Candidates are
// SSD's rule (scales spaced evenly from s_min to s_max over the maps) and its geometric variant, with s_min and s_max
// at quantiles of the object sizes, times aspect-ratio sets (SSD's two, and one read off the data's aspect-ratio
// quantiles); the current config competes too. Each is measured like the config itself (PriorGrid, on a sample of
// the objects), and the one reaching the most objects at the threshold wins, so a suggestion is a measured claim,
// not a rule of thumb.
import { bestPriors, quantile, type PriorFit } from './prior-fit.js';
import { PriorGrid } from './prior-grid.js';
import type { PriorConfig } from './priors.js';

/** Options of {@link suggestPriors}. */
export interface SuggestOptions {
  /** Objects the candidates are measured on (an even sample of the fit's). Default 2000. */
  sampleObjects?: number;
}

/** Five quantiles (5, 25, 50, 75 and 95%) of a distribution. */
export interface Quantiles {
  q05: number;
  q25: number;
  q50: number;
  q75: number;
  q95: number;
}

/** What {@link suggestPriors} found. */
export interface PriorSuggestion {
  /** The config to use instead: the same maps (and steps, clipping, extra prior) with the winning scales and ratios. */
  config: PriorConfig;
  /** Its fit on all the objects. */
  matchedShare: number;
  meanBestIou: number;
  /** How the objects measure, as fractions of the square input: size sqrt(w h) and aspect ratio w / h. */
  sizes: Quantiles;
  ratios: Quantiles;
  /**
   * The size below which even a prior of an object's own size and shape reaches the threshold only near one of the
   * finest map's centres (a centre can be half a step away in x and y: 2.7 steps at IoU 0.5), and how many objects
   * are smaller: for them a larger input (a finer first map) helps more than other priors.
   */
  reach: { size: number; objects: number };
  /** Configs measured. */
  candidates: number;
}

function quantiles(sorted: Float64Array): Quantiles {
  const q = (p: number): number => quantile(sorted, p, true);
  return { q05: q(0.05), q25: q(0.25), q50: q(0.5), q75: q(0.75), q95: q(0.95) };
}

/** A ratio rounded to a halves (>= 1) or the reciprocal of one (< 1): 1.5, 2, 3, 1/2, 2/3 ... */
export function niceRatio(r: number): number {
  const up = r >= 1 ? r : 1 / r;
  const rounded = Math.max(1, Math.round(up * 2) / 2);
  return r >= 1 ? rounded : 1 / rounded;
}

/** Ratio sets: SSD's [1, 2, 1/2], [1, 2, 1/2, 3, 1/3], and 1 with the data's 5/25/75/95% aspect ratios (rounded, distinct). */
function ratioSets(ratios: Quantiles): number[][] {
  const fromData = [1];
  for (const r of [ratios.q05, ratios.q25, ratios.q75, ratios.q95].map(niceRatio)) {
    if (fromData.every((have) => Math.abs(Math.log(r / have)) > Math.log(1.25))) fromData.push(r);
  }
  return [[1, 2, 1 / 2], [1, 2, 1 / 2, 3, 1 / 3], fromData];
}

/** m scales from lo to hi: evenly spaced (SSD's rule) or geometrically; rounded to 3 decimals. */
function spaced(lo: number, hi: number, m: number, geometric: boolean): number[] {
  const round = (v: number): number => Math.max(0.001, Math.round(v * 1000) / 1000);
  if (m === 1) return [round(geometric ? Math.sqrt(lo * hi) : (lo + hi) / 2)];
  return Array.from({ length: m }, (_, k) => round(geometric ? lo * (hi / lo) ** (k / (m - 1)) : lo + ((hi - lo) * k) / (m - 1)));
}

/** Share of the boxes (fractions, 4 per box) some prior of `config` reaches at `threshold`, and their mean best IoU. */
function measure(config: PriorConfig, boxes: Float32Array, threshold: number): { matchedShare: number; meanBestIou: number } {
  const { iou } = bestPriors(new PriorGrid(config), boxes);
  const t = Math.fround(threshold);
  let matched = 0, sum = 0;
  for (const v of iou) {
    if (v >= t) matched++;
    sum += v;
  }
  return { matchedShare: iou.length > 0 ? matched / iou.length : 1, meanBestIou: iou.length > 0 ? sum / iou.length : NaN };
}

/**
 * Scales and aspect ratios for `config`'s maps derived from the objects of `fit` (measured with `config`), or
 * undefined when the fit has no objects. See {@link PriorSuggestion}.
 */
export function suggestPriors(config: PriorConfig, fit: PriorFit, options: SuggestOptions = {}): PriorSuggestion | undefined {
  const n = fit.objects;
  if (n === 0) return undefined;
  const sortedSizes = Float64Array.from(fit.sizes).sort();
  const sizes = quantiles(sortedSizes);
  const ratios = quantiles(Float64Array.from(fit.ratios).sort());

  const k = Math.min(n, options.sampleObjects ?? 2000);
  const sample = new Float32Array(4 * k);
  for (let i = 0; i < k; i++) {
    const o = Math.floor((i * n) / k);
    sample.set(fit.boxes.subarray(4 * o, 4 * o + 4), 4 * i);
  }

  const m = config.featureMapSizes.length;
  const q = (p: number): number => Math.min(1, quantile(sortedSizes, p, true));
  const scaleSets: number[][] = [config.scales];
  for (const lo of [0.02, 0.05, 0.1, 0.2].map(q)) {
    for (const hi of [0.8, 0.9, 0.95, 0.99].map(q)) {
      if (hi > lo * 1.05) for (const geometric of [false, true]) scaleSets.push(spaced(lo, hi, m, geometric));
    }
  }
  const ratioChoices: number[][][] = [config.aspectRatios, ...ratioSets(ratios).map((set) => Array.from({ length: m }, () => [...set]))];

  let best: { config: PriorConfig; matchedShare: number; meanBestIou: number } | undefined;
  let candidates = 0;
  for (const scales of scaleSets) {
    for (const aspectRatios of ratioChoices) {
      const candidate: PriorConfig = { ...structuredClone(config), scales: [...scales], aspectRatios: aspectRatios.map((r) => [...r]) };
      const r = measure(candidate, sample, fit.threshold);
      candidates++;
      if (!best || r.matchedShare > best.matchedShare || (r.matchedShare === best.matchedShare && r.meanBestIou > best.meanBestIou)) best = { config: candidate, ...r };
    }
  }
  const all = measure(best!.config, fit.boxes, fit.threshold);

  const t = fit.threshold;
  const step = config.steps?.[0] ?? 1 / config.featureMapSizes[0]!;
  const reachSize = step / (2 * (1 - Math.sqrt((2 * t) / (1 + t))));
  let small = 0;
  for (const s of fit.sizes) if (s < reachSize) small++;
  return { config: best!.config, ...all, sizes, ratios, reach: { size: reachSize, objects: small }, candidates };
}
