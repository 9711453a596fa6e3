import { test } from 'node:test';
import assert from 'node:assert/strict';
import { progressHook } from '../../src/train/hooks.js';
import { formatDuration, formatProgress, Progress, type ProgressState } from '../../src/train/progress.js';

const state = (step: number): ProgressState => ({ step, total: 10, epoch: 0, loss: 4.25, locLoss: 1.25, confLoss: 3, lr: 1e-3, imagesPerSecond: 2.5, etaSeconds: 65 });

test('a progress line shows step, loss parts, lr, images/s and ETA', () => {
  const line = formatProgress(state(3), 10);
  assert.equal(line, 'step 3/10 [###.......] 30% ep 1 loss 4.2500 (loc 1.250 conf 3.000) lr 1.00e-3 2.50 img/s ETA 1m05s');
  assert.equal(formatDuration(3725), '1h02m');
  assert.equal(formatDuration(9), '9s');
  assert.equal(formatDuration(NaN), '--');
});

test('on a TTY the line is redrawn in place; elsewhere plain lines, rate-limited, the last one always', () => {
  const tty: string[] = [];
  const p = new Progress({ write: (s: string) => tty.push(s), isTTY: true, columns: 200 });
  p.update(state(1));
  p.update(state(2));
  p.log('eval at step 2: mAP 0.5');
  p.done();
  assert.ok(tty[0]!.startsWith('\r\x1b[2Kstep 1/10 ['));
  assert.ok(tty.every((s) => !s.includes('\n') || s.endsWith('\n')));
  assert.ok(tty.includes('eval at step 2: mAP 0.5\n'));
  assert.equal(tty[tty.length - 1], '\n');

  const plain: string[] = [];
  const q = new Progress({ write: (s: string) => plain.push(s) }, 60_000);
  for (let i = 1; i <= 10; i++) q.update(state(i));
  q.done();
  assert.equal(plain.length, 2, 'the first line, then nothing within the interval, then the last step');
  assert.ok(plain.every((s) => !s.includes('\r') && !s.includes('\x1b') && s.endsWith('\n')));
  assert.match(plain[1]!, /^step 10\/10 100%/);
});

test('the training progress never goes back: a time-budget run (uneven steps, pauses for evaluation, a resumed start) and a step-budget run print non-decreasing steps and percentages', () => {
  type Run = Parameters<NonNullable<ReturnType<typeof progressHook>['afterStep']>>[0];
  const check = (budget: { totalSteps?: number; budgetSeconds?: number }, resumeAt: { step: number; seconds: number }): void => {
    const out: string[] = [];
    const state = { step: resumeAt.step, epoch: 0, seconds: resumeAt.seconds };
    const run = { progress: new Progress({ write: (s: string) => out.push(s), isTTY: true, columns: 200 }), state, totalSteps: budget.totalSteps, budgetSeconds: budget.budgetSeconds } as unknown as Run;
    const hook = progressHook();
    for (let i = 0; i < 400; i++) {
      // Steps of 0 to 0.3 s; every 50th waits 5 s for an evaluation, which the budget does not count.
      const seconds = ((i * 7919) % 31) / 100;
      state.step++;
      state.seconds += seconds;
      void hook.afterStep!(run, { step: state.step, epoch: 0, images: 8, losses: { loss: 4, loc_loss: 1, conf_loss: 3, positives: 20 }, lr: 1e-3, seconds: i % 50 === 49 ? seconds + 5 : seconds, skipped: [] });
    }
    const shown = out.map((l) => /step (\d+)(?:\/\d+)? \[[#.]+\] (\d+)%/.exec(l)).filter((m) => m !== null).map((m) => [Number(m![1]), Number(m![2])] as const);
    assert.equal(shown.length, 400);
    for (let i = 1; i < shown.length; i++) {
      assert.ok(shown[i]![0] >= shown[i - 1]![0] && shown[i]![1] >= shown[i - 1]![1], `line ${i}: step ${shown[i]![0]} at ${shown[i]![1]}% after step ${shown[i - 1]![0]} at ${shown[i - 1]![1]}%`);
    }
    assert.ok(shown[0]![1] >= 0 && shown[399]![1] <= 100);
  };
  check({ budgetSeconds: 70 }, { step: 0, seconds: 0 });
  check({ budgetSeconds: 120 }, { step: 150, seconds: 40 }); // resumed
  check({ totalSteps: 600 }, { step: 100, seconds: 30 });
});
