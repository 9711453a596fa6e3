// Two training-step settings of one model compared in one process: StepSessions of each setting take turns in
// blocks of steps, and each round's block medians go into a paired difference. Separate processes of one command
// differ by up to a quarter on the shared machines (a process sometimes runs slower throughout), which hides the
// 1-3% a single formulation change is worth; paired blocks in one process see the same machine. Blocks rather than
// single steps: a session's idle threads spin-wait for a while after its step and would take the next session's
// cores, so each block's first step is run untimed. Two identical sessions still differ by up to 1.5 ms a step
// (ssd-tiny), so each side has `--sessions` of its own (default 2) and a round takes all of them, sides interleaved.
// Usage: node --import tsx bench/step-ab.ts --model ssd-tiny --b '{"flattenBelow":5000}' [--a '{}'] [--batch 8]
//          [--threads 2] [--blocks 20] [--block 12] [--sessions 2]   (--blocks: rounds)
// --a / --b: StepSessionOptions as JSON (e.g. {"gradients":{"convWeightGrad":"im2col"}}, {"nchwc":false}).
// Prints one JSON object: each side's median over rounds (ms a step) and the mean paired difference b - a with its
// standard error.
import { parseArgs } from 'node:util';
import { initWeights } from '../src/nn/layers.js';
import { modelEntry } from '../src/nn/models/index.js';
import { StepSession, type StepSessionOptions } from '../src/train/session.js';
import { countFlag } from './count-flag.js';
import { syntheticBatch } from './synthetic-batch.js';

const { values } = parseArgs({
  options: { model: { type: 'string' }, a: { type: 'string' }, b: { type: 'string' }, batch: { type: 'string' }, threads: { type: 'string' }, blocks: { type: 'string' }, block: { type: 'string' }, sessions: { type: 'string' } },
  strict: true,
});
const model = values.model ?? 'ssd-tiny';
const batch = countFlag('batch', values.batch, 8);
const threads = countFlag('threads', values.threads, 2);
const blocks = countFlag('blocks', values.blocks, 20);
const block = countFlag('block', values.block, 12);
const perSide = countFlag('sessions', values.sessions, 2);
const options = (flag: 'a' | 'b'): StepSessionOptions => {
  try {
    return JSON.parse(values[flag] ?? '{}') as StepSessionOptions;
  } catch (e) {
    throw new Error(`--${flag} must be StepSessionOptions as JSON: ${(e as Error).message}`);
  }
};
const [optsA, optsB] = [options('a'), options('b')];

const net = modelEntry(model).build(21);
const weights = initWeights(net.parameters(), 0);
// Sides interleaved: a, b, a, b, ...
const sessions: { side: 0 | 1; session: StepSession }[] = [];
for (let i = 0; i < perSide; i++)
  for (const side of [0, 1] as const) sessions.push({ side, session: await StepSession.create(net, weights, batch, { threads, ...(side === 0 ? optsA : optsB) }) });
const feed = syntheticBatch(net, batch);
// Past the first steps, which pay page faults while the allocator settles.
for (let i = 0; i < 10; i++) for (const { session } of sessions) await session.step(feed, 1e-4);

const median = (x: readonly number[]): number => [...x].sort((p, q) => p - q)[x.length >> 1]!;
const mean = (x: readonly number[]): number => x.reduce((p, q) => p + q, 0) / x.length;
/** Per round, each side's mean of its sessions' block medians. */
const rounds: [number[], number[]] = [[], []];
for (let k = 0; k < blocks; k++) {
  const order = k % 2 === 0 ? sessions : [...sessions].reverse();
  const sums = [0, 0];
  for (const { side, session } of order) {
    await session.step(feed, 1e-4);
    const t: number[] = [];
    for (let i = 0; i < block; i++) {
      const t0 = performance.now();
      await session.step(feed, 1e-4);
      t.push(performance.now() - t0);
    }
    sums[side]! += median(t) / perSide;
  }
  rounds[0].push(sums[0]!);
  rounds[1].push(sums[1]!);
}
const d = rounds[1].map((b, i) => b - rounds[0][i]!);
const m = mean(d);
const sd = Math.sqrt(d.reduce((p, q) => p + (q - m) ** 2, 0) / Math.max(1, d.length - 1));
console.log(
  JSON.stringify({
    bench: 'step-ab',
    model,
    batch,
    threads,
    blocks,
    block,
    sessions_per_side: perSide,
    a: optsA,
    b: optsB,
    a_step_ms: median(rounds[0]),
    b_step_ms: median(rounds[1]),
    b_minus_a_ms: m,
    standard_error_ms: sd / Math.sqrt(d.length),
  }),
);
await Promise.all(sessions.map(({ session }) => session.release()));
