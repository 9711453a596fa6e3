import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cosineSchedule, referenceMilestones, stepDecaySchedule } from '../../src/train/schedule.js';

test('the reference milestones scale 80k/100k of 120k to the run', () => {
  assert.deepEqual(referenceMilestones(120_000), [80_000, 100_000]);
  assert.deepEqual(referenceMilestones(1_200), [800, 1_000]);
  assert.deepEqual(referenceMilestones(12), [8, 10]);
});

test('step decay divides the rate by 10 from each milestone on', () => {
  const s = stepDecaySchedule({ baseLr: 1e-3, totalSteps: 120 });
  assert.deepEqual(s.milestones, [80, 100]);
  assert.equal(s.lrAt(0), 1e-3);
  assert.equal(s.lrAt(79), 1e-3);
  assert.ok(Math.abs(s.lrAt(80) - 1e-4) < 1e-18);
  assert.ok(Math.abs(s.lrAt(99) - 1e-4) < 1e-18);
  assert.ok(Math.abs(s.lrAt(100) - 1e-5) < 1e-18);
  assert.ok(Math.abs(s.lrAt(119) - 1e-5) < 1e-18);
});

test('warm-up rises linearly from the start factor to the base rate, then step decay applies', () => {
  const s = stepDecaySchedule({ baseLr: 0.01, totalSteps: 100, warmupSteps: 10, warmupStartFactor: 0.1, milestones: [50] });
  assert.ok(Math.abs(s.lrAt(0) - 0.001) < 1e-15);
  assert.ok(Math.abs(s.lrAt(5) - 0.01 * (0.1 + 0.9 * 0.5)) < 1e-15);
  for (let i = 1; i < 10; i++) assert.ok(s.lrAt(i) > s.lrAt(i - 1), `warm-up must increase at step ${i}`);
  assert.equal(s.lrAt(10), 0.01);
  assert.ok(Math.abs(s.lrAt(50) - 0.001) < 1e-15);
});

test('bad schedules are refused with the value named', () => {
  assert.throws(() => stepDecaySchedule({ baseLr: 0, totalSteps: 10 }), /learning rate must be a positive number, got 0/);
  assert.throws(() => stepDecaySchedule({ baseLr: 1, totalSteps: 0 }), /totalSteps must be a positive whole number, got 0/);
  assert.throws(() => stepDecaySchedule({ baseLr: 1, totalSteps: 10, milestones: [5, 3] }), /increasing order, got \[5, 3\]/);
  assert.throws(() => stepDecaySchedule({ baseLr: 1, totalSteps: 10, warmupSteps: -1 }), /warmupSteps/);
});

test('the cosine schedule over a time budget warms up, peaks at lr and decays to lr/100 at the budget', () => {
  // The rate at `step` with `fraction` of the budget spent, after a warm-up of `warmup` steps from lr/10.
  const timedLr = (lr: number, step: number, fraction: number, warmup: number): number => cosineSchedule({ baseLr: lr, warmupSteps: warmup }).lrAt(step, fraction);
  assert.ok(Math.abs(timedLr(0.1, 0, 0, 10) - 0.01) < 1e-12);
  assert.ok(timedLr(0.1, 5, 0, 10) < timedLr(0.1, 9, 0, 10));
  assert.ok(Math.abs(timedLr(0.1, 100, 0, 10) - 0.1) < 1e-12);
  assert.ok(Math.abs(timedLr(0.1, 100, 1, 10) - 0.001) < 1e-12);
  assert.ok(Math.abs(timedLr(0.1, 100, 2, 10) - 0.001) < 1e-12);
  for (let f = 0; f < 1; f += 0.1) assert.ok(timedLr(0.1, 100, f + 0.1, 10) <= timedLr(0.1, 100, f, 10));
});
