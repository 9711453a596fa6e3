// The training loop: batches from the loader, one step each at the schedule's rate, until the run's budget (steps
// or time) is spent or a stop is asked for; everything else happens in hooks (src/train/hooks.ts).
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

/** The share of the run done: by steps, or by training time for a time budget. */
export function runFraction(run: TrainingRun): number {
  return run.totalSteps !== undefined ? run.state.step / run.totalSteps : (run.state.seconds ?? 0) / run.budgetSeconds!;
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
  const finished = (): boolean => runFraction(run) >= 1;
  const outcome: LoopOutcome = { stopped: false, steps: 0, images: 0, seconds: 0, recentLosses: [] };
  await each('beforeRun', (f) => f(run));
  let last = performance.now();
  while (!finished() && !outcome.stopped) {
    const epoch = state.epoch;
    for await (const batch of loader.epoch(epoch, state.batchInEpoch)) {
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
      if (state.batchInEpoch === loader.batchesPerEpoch) {
        state.epoch = epoch + 1;
        state.batchInEpoch = 0;
      }
      outcome.steps++;
      outcome.images += batch.size;
      outcome.seconds += seconds;
      if (outcome.recentLosses.push(losses.loss) > 10) outcome.recentLosses.shift();
      await each('afterStep', (f) => f(run, { step: state.step, epoch, images: batch.size, losses, lr, seconds }));

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
