// The trainer as a library call, on a tiny generated dataset with ssd-tiny at 96 px.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { measurePriorFit } from '../../src/boxes/prior-fit.js';
import { loadDataset } from '../../src/data/dataset.js';
import { ssdTinyPriors } from '../../src/nn/models/ssd-tiny.js';
import { generateShapesDataset } from '../../src/data/synthetic.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { readMetricsLog, type StepRecord } from '../../src/train/metrics-log.js';
import { NonFiniteLossError } from '../../src/train/errors.js';
import { writeFailure } from '../../src/train/hooks.js';
import { train } from '../../src/train/trainer.js';

let dir = '';
let data = '';
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssd-trainer-'));
  data = join(dir, 'shapes');
  await generateShapesDataset(data, { images: 8, size: [64, 80], seed: 5, splits: { train: 0.75, val: 0, test: 0.25 } });
});
after(() => rmSync(dir, { recursive: true, force: true }));

const base = { model: 'ssd-tiny', inputSize: 96, batch: 2, threads: 1, workers: 1, progress: false as const };

let epochsRun: StepRecord[] = [];

test('epochs: every step logged with its epoch, and the rate decays at 2/3 and 5/6 of the run', async () => {
  const out = join(dir, 'epochs');
  // 6 training images, batch 2: 3 steps an epoch, 6 steps in 2 epochs; milestones round(6*80/120) = 4, round(6*100/120) = 5.
  const r = await train({ ...base, data, out, epochs: 2, lr: 0.01, seed: 1, shuffle: false, augment: false });
  assert.equal(r.steps, 6);
  const steps = readMetricsLog(r.metricsPath).filter((x): x is StepRecord => x.type === 'step');
  assert.deepEqual(steps.map((s) => s.step), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(steps.map((s) => s.epoch), [0, 0, 0, 1, 1, 1]);
  const lr = steps.map((s) => s.lr);
  assert.deepEqual(lr.slice(0, 4), [0.01, 0.01, 0.01, 0.01]);
  assert.ok(Math.abs(lr[4]! - 0.001) < 1e-12 && Math.abs(lr[5]! - 0.0001) < 1e-12, `decayed rates ${lr.slice(4)}`);
  for (const s of steps) {
    assert.ok(Number.isFinite(s.loss) && s.loss > 0);
    assert.ok(Math.abs(s.loss - (s.loc_loss + s.conf_loss)) < 1e-4 * s.loss, 'loss = loc + conf (alpha 1)');
    assert.ok(s.images_per_s > 0);
  }
  // Without shuffling or augmentation, epoch 2 sees the same batches as epoch 1: a model that learned
  // from them has a lower loss on them.
  assert.ok(steps[3]!.loss < steps[0]!.loss, `loss of batch 1 went from ${steps[0]!.loss} to ${steps[3]!.loss}`);
  const ckpt = loadCheckpoint(r.lastCheckpoint);
  assert.deepEqual([ckpt.state.step, ckpt.state.epoch, ckpt.state.batchInEpoch], [6, 2, 0]);
  epochsRun = steps;
  assert.ok([...ckpt.optimizer.values()].some((m) => m.data.some((v) => v !== 0)), 'momentum is saved');
});

test('a stop signal ends the run after the current step with a checkpoint; resume finishes it exactly', async () => {
  assert.equal(epochsRun.length, 6, 'needs the epochs run');
  const out = join(dir, 'stopped');
  const stop = new AbortController();
  // Progress writes a line after each step (not a TTY): stop there, after step 1.
  const progress = { write: () => stop.abort() };
  const first = await train({ ...base, data, out, epochs: 2, lr: 0.01, seed: 1, shuffle: false, augment: false, progress, signal: stop.signal });
  assert.equal(first.stopped, true);
  assert.equal(first.steps, 1);
  assert.equal(loadCheckpoint(first.lastCheckpoint).state.step, 1);
  const rest = await train({ data: [], out, resume: true, threads: 1, workers: 1, progress: false });
  assert.equal(rest.stopped, false);
  assert.equal(rest.steps, 6);
  const steps = readMetricsLog(rest.metricsPath).filter((x): x is StepRecord => x.type === 'step');
  assert.deepEqual(steps.map((x) => [x.step, x.loss, x.loc_loss, x.conf_loss, x.lr]), epochsRun.map((x) => [x.step, x.loss, x.loc_loss, x.conf_loss, x.lr]));
});

test('a run that diverges stops with a clear message and leaves the last good checkpoint intact', async () => {
  const out = join(dir, 'diverge');
  // lr 1000 blows the weights up within a few steps; a checkpoint after every step.
  let message = '';
  await assert.rejects(train({ ...base, data, out, iterations: 20, lr: 1000, seed: 2, saveEvery: 1 }), (e: unknown) => {
    assert.ok(e instanceof NonFiniteLossError, String(e));
    message = e.message;
    return true;
  });
  assert.match(message, /(loss is (NaN|Infinity|-Infinity) at|the weights became non-finite \(.*\) in) step \d+ .*Stopped without saving: the last good checkpoint is .*last\.safetensors \(step \d+\)\. Try a lower --lr/);
  const good = Number(/\(step (\d+)\)\. Try/.exec(message)![1]);
  assert.ok(good >= 1);
  const steps = readMetricsLog(join(out, 'metrics.jsonl')).filter((x): x is StepRecord => x.type === 'step');
  assert.ok(steps.every((s) => Number.isFinite(s.loss)), 'no non-finite loss in the log');
  const ckpt = loadCheckpoint(join(out, 'last.safetensors'));
  assert.equal(ckpt.state.step, good, 'the checkpoint in place is the last good one');
  for (const [name, t] of ckpt.parameters) assert.ok(t.data.every(Number.isFinite), `${name} is finite in the checkpoint`);
});

test('a folder that holds a run is refused; existOk starts over without any file of the old run', async () => {
  const out = join(dir, 'again');
  const first = await train({ ...base, data, out, iterations: 2, lr: 0.01, seed: 1, augment: false, evalEvery: 1, valSplit: 'test' });
  assert.ok(first.bestModel && existsSync(first.bestModel), 'the first run evaluated and kept best.safetensors');
  await assert.rejects(train({ ...base, data, out, iterations: 1, lr: 0.01, seed: 1, augment: false }), /already holds a run \(last\.safetensors, best\.safetensors, metrics\.jsonl, report\.html, options\.json\)\. Continue it with --resume, start over there with --exist-ok/);
  assert.equal(loadCheckpoint(first.lastCheckpoint).state.step, 2, 'the refused run touched nothing');
  const second = await train({ ...base, data, out, iterations: 1, lr: 0.01, seed: 1, augment: false, evalEvery: 0, existOk: true });
  assert.equal(second.steps, 1);
  assert.ok(!existsSync(join(out, 'best.safetensors')), "the old run's best model is gone");
  assert.deepEqual(readMetricsLog(second.metricsPath).map((r) => [r.type, r.step]), [['step', 1]]);
});

test('a time budget: the run trains for its minutes, and the cosine schedule decays over the time', async () => {
  const out = join(dir, 'timed');
  const minutes = 0.03;
  const r = await train({ ...base, data, out, minutes, lr: 0.01, warmup: 2, seed: 3, augment: false });
  assert.ok(r.trainSeconds >= minutes * 60, `trained ${r.trainSeconds} s of a ${minutes * 60} s budget`);
  assert.ok(r.steps >= 4, `${r.steps} steps`);
  const ckpt = loadCheckpoint(r.lastCheckpoint);
  assert.ok(ckpt.state.seconds! >= minutes * 60 && ckpt.state.step === r.steps, 'the checkpoint holds the time trained');
  const lr = readMetricsLog(r.metricsPath).filter((x): x is StepRecord => x.type === 'step').map((s) => s.lr);
  assert.ok(lr[0]! < lr[1]! && Math.abs(lr[0]! - 0.001) < 1e-12, `warm-up from lr/10: ${lr.slice(0, 3)}`);
  for (let i = 3; i < lr.length; i++) assert.ok(lr[i]! <= lr[i - 1]!, `the rate never rises after the warm-up: ${lr}`);
  assert.ok(lr.at(-1)! < 0.5 * 0.01, `the last rate ${lr.at(-1)} is well down the cosine`);
});

test('AdamW: the checkpoint holds both moments of every parameter, and a stopped run resumes exactly', async () => {
  const opts = { ...base, data, iterations: 4, optimizer: 'adamw' as const, lr: 3e-3, seed: 4, shuffle: false, augment: false };
  const whole = await train({ ...opts, out: join(dir, 'adamw-whole') });
  const ckpt = loadCheckpoint(whole.lastCheckpoint);
  const trainable = [...ckpt.parameters.keys()].filter((k) => !k.endsWith('.running_mean') && !k.endsWith('.running_var'));
  assert.deepEqual([...ckpt.optimizer.keys()].sort(), trainable.flatMap((k) => [`${k}.adam_m`, `${k}.adam_v`]).sort());
  const stop = new AbortController();
  const out = join(dir, 'adamw-stopped');
  const first = await train({ ...opts, out, progress: { write: () => stop.abort() }, signal: stop.signal });
  assert.equal(first.steps, 1);
  const rest = await train({ data: [], out, resume: true, threads: 1, workers: 1, progress: false });
  const losses = (p: string) => readMetricsLog(p).filter((x): x is StepRecord => x.type === 'step').map((s) => [s.step, s.loss, s.lr]);
  assert.deepEqual(losses(rest.metricsPath), losses(whole.metricsPath));
});

test('a write that fails names the file and the step and says what to do; the run stops', async () => {
  const out = join(dir, 'unwritable');
  // After step 1, last.safetensors becomes a folder: the checkpoint at the epoch's end cannot replace it.
  const blocker = { afterStep: (_run: unknown, e: { step: number }) => void (e.step === 1 && mkdirSync(join(out, 'last.safetensors'))) };
  await assert.rejects(train({ ...base, data, out, epochs: 1, lr: 0.01, seed: 1, augment: false }, [blocker]), (e: Error) => {
    assert.match(e.message, new RegExp(`^train: writing .*last\\.safetensors at step 3 failed: .*; check the folder and its permissions, then continue with --resume$`));
    return true;
  });
  const full = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: 'ENOSPC' });
  const named = writeFailure(full, '/runs/x/metrics.jsonl', 12) as Error;
  assert.equal(named.message, 'train: writing /runs/x/metrics.jsonl at step 12 failed: ENOSPC: no space left on device, write; the disk is full: free some space, then continue with --resume');
  const bug = new TypeError('not a system error');
  assert.equal(writeFailure(bug, 'f', 1), bug, 'errors without a system code pass through');
});

test('defaults: a validation split beside the data turns evaluation on and keeps best.safetensors; the summary and plan come first', async () => {
  const out = join(dir, 'defaults');
  const lines: string[] = [];
  const r = await train({ ...base, data, out, epochs: 2, lr: 0.01, seed: 1, augment: false, progress: { write: (s: string) => void lines.push(s) } });
  const evals = readMetricsLog(r.metricsPath).filter((x) => x.type === 'eval');
  assert.deepEqual(evals.map((e) => e.step), [3, 6], 'one evaluation per epoch, on the test split');
  assert.ok(r.bestModel && existsSync(r.bestModel));
  const text = lines.join('');
  const train6 = (await loadDataset(data, { split: 'trainval' })).samples;
  const objects = train6.reduce((a, s) => a + s.labels.length, 0);
  assert.match(text, new RegExp(`data: .*shapes \\(voc\\): ${train6.length} images, ${objects} objects`));
  assert.match(text, /objects per class: circle \d+, square \d+, triangle \d+, star \d+, cross \d+/);
  // The priors' fit to those objects, as `ssd priors` measures it, and where to look when it is poor.
  const fit = measurePriorFit(ssdTinyPriors(96), train6);
  assert.ok(text.includes(`priors: ${fit.matched} of ${objects} objects (${(100 * fit.matchedShare).toFixed(1)}%) reach IoU 0.5 with a prior of ssd-tiny`), text);
  const shown = relative(process.cwd(), data).startsWith('..') ? data : relative(process.cwd(), data);
  assert.equal(text.includes(`a poor fit: ssd priors --model ssd-tiny --input-size 96 --data ${shown} names those objects`), fit.matchedShare < 0.95);
  assert.match(text, /plan: ssd-tiny at 96x96 \(\d+ priors, [\d.]+ M parameters\), batch 2, 6 steps \(2\.0 epochs\), sgd lr 0\.01 \(step schedule\); evaluation: voc07 on 2 validation images every epoch/);
  assert.match(text, /speed: [\d.]+ s a step \([\d.]+ images\/s\): about .* to go on this machine/);
  assert.ok(text.indexOf('plan:') < text.indexOf('speed:'), 'the plan comes before the first steps are timed');
  const none = await train({ ...base, data, out: join(dir, 'no-eval'), iterations: 1, lr: 0.01, evalEvery: 0, progress: false });
  assert.equal(none.bestModel, undefined);
});

test('an image that cannot be decoded: skipped, named and logged with skipBad; without, the run stops naming it, its steps kept', async () => {
  // A copy of the data whose last training image (in split order) is truncated.
  const broken = join(dir, 'broken-data');
  cpSync(data, broken, { recursive: true });
  const ids = readFileSync(join(broken, 'ImageSets', 'Main', 'trainval.txt'), 'utf8').trim().split('\n');
  const bad = join(broken, 'JPEGImages', `${ids.at(-1)}.jpg`);
  writeFileSync(bad, readFileSync(bad).subarray(0, 200));
  const opts = { ...base, data: broken, lr: 0.01, seed: 1, augment: false, shuffle: false, evalEvery: 0 };

  const skipping = await train({ ...opts, out: join(dir, 'skipping'), epochs: 2, skipBad: true });
  // 6 images, one bad: 5 left, 2 full batches of 2 an epoch for ssd-tiny (batch norm drops the short one).
  assert.equal(skipping.steps, 4);
  const skips = readMetricsLog(skipping.metricsPath).filter((r) => r.type === 'skip');
  assert.equal(skips.length, 1, 'found once, then left out of later epochs');
  assert.ok(skips[0]!.type === 'skip' && skips[0]!.file === bad && skips[0]!.message.includes('cannot decode'));
  assert.deepEqual(loadCheckpoint(skipping.lastCheckpoint).state.skippedIds, [ids.at(-1)]);

  const out = join(dir, 'stopping');
  await assert.rejects(train({ ...opts, out, epochs: 1 }), (e: Error) => {
    assert.ok(e.message.includes(bad), e.message);
    assert.match(e.message, /train: stopped at step 2; the checkpoint .*last\.safetensors holds step 2\. Fix or remove the file and continue with --resume, or train with --skip-bad/);
    return true;
  });
  assert.equal(loadCheckpoint(join(out, 'last.safetensors')).state.step, 2, 'the steps before the bad image are kept');
});
