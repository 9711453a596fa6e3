/**
 * Learning-rate schedules: step decay with an optional linear warm-up.
 *
 * The reference SSD300 recipe trains 120k iterations and divides the rate by 10 at 80k and 100k.
 * `stepDecaySchedule` scales those milestones to the length of the run, so a 1 200-step run decays
 * at 800 and 1 000.
 */

/** Options of {@link stepDecaySchedule}. */
export interface StepDecayOptions {
  /** The base learning rate (the rate of the weight group; groups such as biases multiply it). */
  baseLr: number;
  /** The total number of optimisation steps of the run. */
  totalSteps: number;
  /**
   * The steps (0-based: the rate changes from this step on) at which the rate is multiplied by `factor`.
   * Default: the reference's 80k and 100k of 120k, scaled to `totalSteps` (rounded).
   */
  milestones?: readonly number[];
  /** The multiplier applied at each milestone. Default 0.1. */
  factor?: number;
  /** Steps of linear warm-up from `warmupStartFactor * baseLr` to `baseLr`. Default 0 (none). */
  warmupSteps?: number;
  /** The fraction of the base rate at step 0 of the warm-up. Default 0.001 (as torchvision's detection references). */
  warmupStartFactor?: number;
}

/** A learning-rate schedule: the base rate to use at a 0-based step. */
export interface LrSchedule {
  /** The learning rate at `step` (0-based optimisation step). */
  lrAt(step: number): number;
  /** The decay milestones in use (0-based steps). */
  readonly milestones: readonly number[];
  /** The warm-up length in steps. */
  readonly warmupSteps: number;
}

/** The reference recipe's milestones (80k, 100k of 120k iterations) scaled to a run of `totalSteps`. */
export function referenceMilestones(totalSteps: number): number[] {
  return [Math.round((totalSteps * 80) / 120), Math.round((totalSteps * 100) / 120)];
}

/**
 * Step decay: `baseLr * factor^(number of milestones <= step)`, times a linear warm-up factor during
 * the first `warmupSteps` steps. Throws on a non-positive rate, a negative step count or unsorted milestones.
 */
export function stepDecaySchedule(opts: StepDecayOptions): LrSchedule {
  const { baseLr, totalSteps } = opts;
  if (!(baseLr > 0) || !Number.isFinite(baseLr)) throw new Error(`learning rate must be a positive number, got ${baseLr}`);
  if (!Number.isInteger(totalSteps) || totalSteps < 1) throw new Error(`totalSteps must be a positive whole number, got ${totalSteps}`);
  const milestones = [...(opts.milestones ?? referenceMilestones(totalSteps))];
  for (let i = 0; i < milestones.length; i++) {
    const m = milestones[i]!;
    if (!Number.isInteger(m) || m < 0) throw new Error(`milestone ${i} must be a non-negative whole number, got ${m}`);
    if (i > 0 && m < milestones[i - 1]!) throw new Error(`milestones must be in increasing order, got [${milestones.join(', ')}]`);
  }
  const factor = opts.factor ?? 0.1;
  if (!(factor > 0)) throw new Error(`decay factor must be positive, got ${factor}`);
  const warmupSteps = opts.warmupSteps ?? 0;
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0) throw new Error(`warmupSteps must be a non-negative whole number, got ${warmupSteps}`);
  const warmupStart = opts.warmupStartFactor ?? 0.001;
  if (!(warmupStart > 0 && warmupStart <= 1)) throw new Error(`warmupStartFactor must be in (0, 1], got ${warmupStart}`);

  return {
    milestones,
    warmupSteps,
    lrAt(step: number): number {
      let lr = baseLr;
      for (const m of milestones) if (step >= m) lr *= factor;
      if (step < warmupSteps) {
        const t = step / warmupSteps;
        lr *= warmupStart + (1 - warmupStart) * t;
      }
      return lr;
    },
  };
}
