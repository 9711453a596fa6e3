// The training loop: batches from the loader, one step each at the schedule's rate, until the run's budget (steps
// or time) is spent or a stop is asked for; everything else happens in hooks (src/train/hooks.ts).
import type { Batch } from '../data/loader.js';
import { NonFiniteLossError } from './errors.js';
import type { TrainHook } from './hooks.js';
import { lastGood, type TrainingRun } from './run.js';

/** How the loop ended. */
export interface LoopOutcome {
  /** True when a stop signal ended the run before its budget. */
  stopped: boolean;
  /** Steps and images of this invocation, and its training seconds (hooks' time apart). */
  steps: number;
  images: number;
  seconds: number;
  /** The losses of the last (up to) 10 steps. */
  recentLosses: number[];
}

/** The share of the run done (at most 1): by steps, or by training time for a time budget. */
export function runFraction(run: TrainingRun): number {
  return Math.min(1, run.totalSteps !== undefined ? run.state.step / run.totalSteps : (run.state.seconds ?? 0) / run.budgetSeconds!);
}

/** Runs steps until the budget is spent or `signal` stops the run (after the current step, with a checkpoint). */
export async function runLoop(run: TrainingRun, hooks: readonly TrainHook[], signal?: AbortSignal): Promise<LoopOutcome> {
  const { state, loader, session, schedule } = run;
  const each = async <K extends keyof TrainHook>(name: K, call: (h: Required<TrainHook>[K]) => void | Promise<void>): Promise<void> => {
    for (const h of hooks) {
      const f = h[name];
      if (f) await call(f.bind(h) as Required<TrainHook>[K]);
    }
  };
  // An epochs budget counts epochs: with skipBad, images found bad during the run make later epochs shorter.
  const epochs = run.options.minutes === undefined ? run.options.epochs : undefined;
  const finished = (): boolean => (epochs !== undefined ? state.epoch >= epochs : runFraction(run) >= 1);
  const outcome: LoopOutcome = { stopped: false, steps: 0, images: 0, seconds: 0, recentLosses: [] };
  await each('beforeRun', (f) => f(run));
  let reported = 0;
  let last = performance.now();
  while (!finished() && !outcome.stopped) {
    const epoch = state.epoch;
    for await (const batch of batchesKeepingTheRun(run, epoch, () => each('checkpoint', (f) => f(run)))) {
      const lr = schedule.lrAt(state.step, runFraction(run));
      run.lr = lr;
      const losses = await session.step({ size: batch.size, images: batch.images, trueClasses: batch.trueClasses!, trueLocs: batch.trueLocs! }, lr);
      if (!Number.isFinite(losses.loss)) {
        throw new NonFiniteLossError(
          `loss is ${losses.loss} at step ${state.step + 1} (epoch ${epoch + 1}, batch ${batch.index}; loc_loss ${losses.loc_loss}, conf_loss ${losses.conf_loss}, lr ${lr}). ` +
            `Stopped without saving: ${lastGood(run)}. Try a lower --lr, --warmup or --clip-grad.`,
        );
      }
      const now = performance.now();
      const seconds = (now - last) / 1000;
      state.seconds = (state.seconds ?? 0) + seconds;
      state.step++;
      state.batchInEpoch = batch.index + 1;
      // The loader marks an epoch's last batch: with skipBad, images that cannot be decoded can end it early.
      if (batch.last) {
        state.epoch = epoch + 1;
        state.batchInEpoch = 0;
      }
      // Images found bad while batches were prepared (this one's, or ones the loader dropped or prefetched).
      const skipped = loader.skipped.slice(reported);
      reported += skipped.length;
      if (skipped.length > 0) state.skippedIds = loader.skippedIds();
      outcome.steps++;
      outcome.images += batch.size;
      outcome.seconds += seconds;
      if (outcome.recentLosses.push(losses.loss) > 10) outcome.recentLosses.shift();
      await each('afterStep', (f) => f(run, { step: state.step, epoch, images: batch.size, losses, lr, seconds, skipped }));

      const epochDone = state.batchInEpoch === 0;
      const done = finished();
      if (signal?.aborted && !done) {
        await each('checkpoint', (f) => f(run));
        outcome.stopped = true;
        break;
      }
      if (epochDone) await each('afterEpoch', (f) => f(run, epoch));
      if (done) await each('afterLastStep', (f) => f(run));
      if (epochDone || done || (run.options.saveEvery > 0 && state.step % run.options.saveEvery === 0)) await each('checkpoint', (f) => f(run));
      if (done) break;
      last = performance.now(); // evaluation and saving are not training time
    }
  }
  await each('afterRun', (f) => f(run, { stopped: outcome.stopped }));
  return outcome;
}

/**
 * The epoch's batches from the loader. When the loader fails (without skipBad, an image that cannot be decoded),
 * the steps done since the last checkpoint are kept first, so the run resumes once the file is fixed or removed.
 */
async function* batchesKeepingTheRun(run: TrainingRun, epoch: number, checkpoint: () => Promise<void>): AsyncGenerator<Batch> {
  const batches = run.loader.epoch(epoch, run.state.batchInEpoch)[Symbol.asyncIterator]();
  try {
    for (;;) {
      let next: IteratorResult<Batch>;
      try {
        next = await batches.next();
      } catch (e) {
        if (run.state.step > run.savedStep) await checkpoint();
        const kept = run.savedStep >= 0 ? `the checkpoint ${run.files.last} holds step ${run.savedStep}` : 'no step was done, so there is no checkpoint';
        throw new Error(`${(e as Error).message}\ntrain: stopped at step ${run.state.step}; ${kept}. Fix or remove the file and continue with --resume, or train with --skip-bad to leave such images out`);
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    await batches.return?.(undefined);
  }
}
