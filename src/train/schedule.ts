/**
 * Learning-rate schedules, each with an optional linear warm-up:
 * - step decay: the reference SSD300 recipe trains 120k iterations and divides the rate by 10 at 80k and 100k;
 *   `stepDecaySchedule` scales those milestones to the length of the run, so a 1 200-step run decays at 800 and
 *   1 000;
 * - cosine: from the base rate down to `finalFactor` of it over the run, where "the run" is its steps or its time
 *   budget (the trainer passes the fraction done), so a time-budgeted run completes its schedule whatever the
 *   machine's speed.
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
  /**
   * The learning rate at `step` (0-based optimisation step), with `fraction` of the run done (0..1, by steps or
   * by time; schedules that decay by step ignore it).
   */
  lrAt(step: number, fraction?: number): number;
  /** The warm-up length in steps. */
  readonly warmupSteps: number;
}

/** A step-decay schedule, with the milestones it uses. */
export interface StepDecaySchedule extends LrSchedule {
  /** The decay milestones in use (0-based steps). */
  readonly milestones: readonly number[];
}

/** Checks warm-up settings; returns the factor at `step` (1 after the warm-up). */
function warmup(warmupSteps: number, startFactor: number): (step: number) => number {
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0) throw new Error(`warmupSteps must be a non-negative whole number, got ${warmupSteps}`);
  if (!(startFactor > 0 && startFactor <= 1)) throw new Error(`warmupStartFactor must be in (0, 1], got ${startFactor}`);
  return (step) => (step < warmupSteps ? startFactor + ((1 - startFactor) * step) / warmupSteps : 1);
}

function checkRate(baseLr: number): void {
  if (!(baseLr > 0) || !Number.isFinite(baseLr)) throw new Error(`learning rate must be a positive number, got ${baseLr}`);
}

/** The reference recipe's milestones (80k, 100k of 120k iterations) scaled to a run of `totalSteps`. */
export function referenceMilestones(totalSteps: number): number[] {
  return [Math.round((totalSteps * 80) / 120), Math.round((totalSteps * 100) / 120)];
}

/**
 * Step decay: `baseLr * factor^(number of milestones <= step)`, times a linear warm-up factor during
 * the first `warmupSteps` steps. Throws on a non-positive rate, a negative step count or unsorted milestones.
 */
export function stepDecaySchedule(opts: StepDecayOptions): StepDecaySchedule {
  const { baseLr, totalSteps } = opts;
  checkRate(baseLr);
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
  const warm = warmup(warmupSteps, opts.warmupStartFactor ?? 0.001);
  return {
    milestones,
    warmupSteps,
    lrAt(step: number): number {
      let lr = baseLr;
      for (const m of milestones) if (step >= m) lr *= factor;
      return lr * warm(step);
    },
  };
}

/** Options of {@link cosineSchedule}. */
export interface CosineOptions {
  /** The peak learning rate (the weight group's; groups such as biases multiply it). */
  baseLr: number;
  /** The rate at the end of the run, as a fraction of `baseLr`. Default 0.01. */
  finalFactor?: number;
  /** Steps of linear warm-up from `warmupStartFactor * baseLr`. Default 0. */
  warmupSteps?: number;
  /** The fraction of the base rate at step 0 of the warm-up. Default 0.1. */
  warmupStartFactor?: number;
}

/**
 * Cosine decay: `baseLr * (finalFactor + (1 - finalFactor) * (1 + cos(pi * fraction)) / 2)`, times the warm-up
 * factor during the first `warmupSteps` steps; `fraction` (clamped to 0..1) is the share of the run done.
 */
export function cosineSchedule(opts: CosineOptions): LrSchedule {
  const { baseLr } = opts;
  checkRate(baseLr);
  const final = opts.finalFactor ?? 0.01;
  if (!(final >= 0 && final <= 1)) throw new Error(`finalFactor must be in [0, 1], got ${final}`);
  const warmupSteps = opts.warmupSteps ?? 0;
  const warm = warmup(warmupSteps, opts.warmupStartFactor ?? 0.1);
  return {
    warmupSteps,
    lrAt(step: number, fraction = 0): number {
      const f = Math.min(1, Math.max(0, fraction));
      return baseLr * warm(step) * (final + (1 - final) * 0.5 * (1 + Math.cos(Math.PI * f)));
    },
  };
}
