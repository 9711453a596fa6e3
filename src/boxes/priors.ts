// Prior (default) boxes: a fixed grid of boxes on each feature map that the network's offsets
// are relative to. Coordinates are fractions of the input image, so a config holds for any input size.

/**
 * How to lay priors on a detector's feature maps. Map k gets `featureMapSizes[k]`^2 positions;
 * at each position one prior per aspect ratio r in `aspectRatios[k]` with width `scales[k]*sqrt(r)`
 * and height `scales[k]/sqrt(r)`, plus (with `extraPrior`) a square prior right after ratio 1 of
 * scale `sqrt(scales[k]*scales[k+1])` (the last map uses `lastExtraScale`).
 */
export interface PriorConfig {
  /** Side of each (square) feature map, largest first, e.g. [38, 19, 10, 5, 3, 1]. */
  featureMapSizes: number[];
  /** Prior scale per map, as a fraction of the image side. */
  scales: number[];
  /** Aspect ratios (width / height) per map, in the order priors are emitted. */
  aspectRatios: number[][];
  /** Add the square prior of geometric-mean scale after ratio 1 on every map. */
  extraPrior: boolean;
  /** Clamp every [cx, cy, w, h] value to [0, 1] after generation (as the SSD300 tutorial does). */
  clip: boolean;
  /**
   * Whether `clip` also clamps the centres. Default: the same as `clip`. torchvision clamps only
   * widths and heights, so its 10x10 map keeps centres at 1.0133 (step 32/300).
   */
  clipCenters?: boolean;
  /**
   * Distance between neighbouring prior centres per map, as a fraction of the image side.
   * Default: 1 / featureMapSizes[k] (centres at (j + 0.5) / size). Caffe-style configs use
   * e.g. 8/300, 16/300, ... here.
   */
  steps?: number[];
  /** Scale of the last map's extra prior (it has no next map). Default 1. */
  lastExtraScale?: number;
}

/** SSD300 as in the paper and the PyTorch tutorial: 8732 priors on maps 38, 19, 10, 5, 3, 1. */
export const SSD300_PRIORS: PriorConfig = Object.freeze({
  featureMapSizes: [38, 19, 10, 5, 3, 1],
  scales: [0.1, 0.2, 0.375, 0.55, 0.725, 0.9],
  aspectRatios: [
    [1, 2, 0.5],
    [1, 2, 3, 0.5, 0.333],
    [1, 2, 3, 0.5, 0.333],
    [1, 2, 3, 0.5, 0.333],
    [1, 2, 0.5],
    [1, 2, 0.5],
  ],
  extraPrior: true,
  clip: true,
}) as PriorConfig;

function checkConfig(config: PriorConfig): void {
  const { featureMapSizes, scales, aspectRatios, steps } = config;
  const n = featureMapSizes.length;
  if (n === 0) throw new Error('prior config: featureMapSizes is empty');
  if (scales.length !== n) throw new Error(`prior config: ${scales.length} scales for ${n} feature maps`);
  if (aspectRatios.length !== n) throw new Error(`prior config: ${aspectRatios.length} aspectRatios lists for ${n} feature maps`);
  if (steps !== undefined && steps.length !== n) throw new Error(`prior config: ${steps.length} steps for ${n} feature maps`);
  for (let k = 0; k < n; k++) {
    const size = featureMapSizes[k];
    if (!Number.isInteger(size) || size < 1) throw new Error(`prior config: featureMapSizes[${k}] = ${size}, must be an integer >= 1`);
    if (!(scales[k] > 0) || !Number.isFinite(scales[k])) throw new Error(`prior config: scales[${k}] = ${scales[k]}, must be > 0`);
    if (aspectRatios[k].length === 0) throw new Error(`prior config: aspectRatios[${k}] is empty`);
    for (const r of aspectRatios[k]) {
      if (!(r > 0) || !Number.isFinite(r)) throw new Error(`prior config: aspectRatios[${k}] holds ${r}, ratios must be > 0`);
    }
    if (config.extraPrior && !aspectRatios[k].includes(1)) {
      throw new Error(`prior config: aspectRatios[${k}] has no ratio 1, which the extra prior follows`);
    }
    if (steps !== undefined && (!(steps[k] > 0) || !Number.isFinite(steps[k]))) throw new Error(`prior config: steps[${k}] = ${steps[k]}, must be > 0`);
  }
}

/** Priors per feature-map position, per map (what each prediction head must output per cell). */
export function priorsPerLocation(config: PriorConfig): number[] {
  return config.aspectRatios.map((ratios) => ratios.length + (config.extraPrior ? 1 : 0));
}

/** Total number of priors a config makes (8732 for SSD300). */
export function priorCount(config: PriorConfig): number {
  const perLocation = priorsPerLocation(config);
  let total = 0;
  for (let k = 0; k < perLocation.length; k++) total += perLocation[k] * config.featureMapSizes[k] ** 2;
  return total;
}

/**
 * Generates the priors of a config as `[cx, cy, w, h]` rows (Float32Array, length 4*n), fractions
 * of the image. Order: maps in config order; rows, then columns; then aspect ratios in config
 * order with the extra prior right after ratio 1 (the SSD300 tutorial's order). Values are computed
 * in float64 and rounded once, like the tutorial.
 */
export function generatePriors(config: PriorConfig): Float32Array {
  checkConfig(config);
  const out = new Float32Array(4 * priorCount(config));
  const { featureMapSizes, scales, aspectRatios, steps, clip, extraPrior } = config;
  const lastExtra = config.lastExtraScale ?? 1;
  const clamp = (v: number): number => (clip ? Math.min(1, Math.max(0, v)) : v);
  const clampCentre = (config.clipCenters ?? clip) ? clamp : (v: number): number => v;
  let o = 0;
  for (let k = 0; k < featureMapSizes.length; k++) {
    const size = featureMapSizes[k];
    const s = scales[k];
    const extra = k + 1 < featureMapSizes.length ? Math.sqrt(s * scales[k + 1]) : lastExtra;
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) {
        const cx = clampCentre(steps ? (j + 0.5) * steps[k] : (j + 0.5) / size);
        const cy = clampCentre(steps ? (i + 0.5) * steps[k] : (i + 0.5) / size);
        for (const r of aspectRatios[k]) {
          const sr = Math.sqrt(r);
          out[o++] = cx;
          out[o++] = cy;
          out[o++] = clamp(s * sr);
          out[o++] = clamp(s / sr);
          if (extraPrior && r === 1) {
            out[o++] = cx;
            out[o++] = cy;
            out[o++] = clamp(extra);
            out[o++] = clamp(extra);
          }
        }
      }
    }
  }
  return out;
}
