// End to end through the CLI, on a tiny generated dataset: `ssd train` with checkpoints and an
// evaluation, a run killed (SIGKILL) mid-epoch and resumed, compared loss by loss with an
// uninterrupted run, then `ssd eval` on the checkpoint (and on the results file it wrote) and on detections made
// elsewhere.
// ssd-tiny at 96 px, batch 2, one ONNX Runtime thread per run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDataset } from '../../src/data/dataset.js';
import { generateShapesDataset } from '../../src/data/synthetic.js';
import { readMetricsLog, type EvalRecord, type StepRecord } from '../../src/train/metrics-log.js';

const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
let dir = '';
let data = '';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function ssd(args: string[], opts: { killWhen?: () => boolean } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let timer: NodeJS.Timeout | undefined;
    if (opts.killWhen) {
      timer = setInterval(() => {
        if (opts.killWhen!()) {
          child.kill('SIGKILL');
          clearInterval(timer);
        }
      }, 5);
    }
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (timer) clearInterval(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const steps = (run: string): StepRecord[] => readMetricsLog(join(run, 'metrics.jsonl')).filter((r): r is StepRecord => r.type === 'step');
const evals = (run: string): EvalRecord[] => readMetricsLog(join(run, 'metrics.jsonl')).filter((r): r is EvalRecord => r.type === 'eval');

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssd-cli-train-'));
  data = join(dir, 'shapes');
  // 8 training images (4 steps an epoch at batch 2), 4 test images.
  await generateShapesDataset(data, { images: 12, size: [72, 96], seed: 3, splits: { train: 2 / 3, val: 0, test: 1 / 3 } });
});
after(() => rmSync(dir, { recursive: true, force: true }));

const common = ['train', '--data', '', '--model', 'ssd-tiny', '--input-size', '96', '--iterations', '4', '--batch', '2', '--lr', '1e-3', '--seed', '7', '--save-every', '2', '--eval-every', '1', '--threads', '1', '--workers', '1'];
const args = (out: string): string[] => common.map((a) => (a === '' ? data : a)).concat(['--out', out]);

let full = '';
let resumed = '';

test('a run killed mid-epoch and resumed gives exactly the losses of an uninterrupted run', async () => {
  full = join(dir, 'full');
  resumed = join(dir, 'killed');
  const checkpoint = join(resumed, 'last.safetensors');
  // Both runs at once (one ORT thread each); the second is killed as soon as its first checkpoint (step 2 of
  // the 4-step epoch) exists. Should the kill come a step late, the checkpoint in place is still step 2's.
  const [a, b] = await Promise.all([ssd(args(full)), ssd(args(resumed), { killWhen: () => existsSync(checkpoint) })]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.signal, 'SIGKILL', `the run should have been killed: ${b.stderr}`);
  const before = steps(resumed).length;
  assert.ok(before >= 2 && before < 4, `killed after ${before} steps, want mid-run`);

  const c = await ssd(['train', '--out', resumed, '--resume', '--threads', '1', '--workers', '1']);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stderr, /resuming .* at step 2 \(epoch 1, batch 2\)/);

  const want = steps(full);
  const got = steps(resumed);
  assert.deepEqual(want.map((r) => r.step), [1, 2, 3, 4]);
  assert.deepEqual(got.map((r) => r.step), [1, 2, 3, 4], 'the resumed log holds each step once');
  for (let i = 0; i < 4; i++) {
    for (const key of ['loss', 'loc_loss', 'conf_loss', 'lr', 'epoch'] as const) {
      assert.equal(got[i]![key], want[i]![key], `step ${i + 1} ${key}`);
    }
    assert.ok(Number.isFinite(want[i]!.loss) && want[i]!.loss > 0);
  }
  // One evaluation, at the end of epoch 1 and of the run (step 4), the same in both runs.
  assert.deepEqual(evals(full).map((e) => [e.step, e.epoch]), [[4, 0]]);
  assert.deepEqual(evals(resumed).map((e) => e.map), evals(full).map((e) => e.map));
  const summary = JSON.parse(a.stdout.trim().split('\n').pop()!) as { steps: number; best: { map: number; step: number } };
  assert.equal(summary.steps, 4);
  assert.equal(summary.best.map, Math.max(...evals(full).map((e) => e.map)));
});

test('the run folder holds the checkpoint, the best model and a report with its plots', () => {
  for (const f of ['last.safetensors', 'best.safetensors', 'metrics.jsonl', 'report.html']) assert.ok(existsSync(join(full, f)), f);
  const html = readFileSync(join(full, 'report.html'), 'utf8');
  assert.match(html, /<svg[^>]*>[\s\S]*Loss \(bucket means\)/);
  assert.match(html, /Validation mAP/);
  assert.match(html, /AP per class/);
  assert.match(html, /Precision-recall curves/);
  for (const name of ['circle', 'square', 'triangle', 'star', 'cross']) assert.ok(html.includes(`>${name}<`), `the AP bars name ${name}`);
});

test('ssd eval on the checkpoint reproduces the mAP the trainer logged and writes the JSON', async () => {
  const json = join(dir, 'map.json');
  const results = join(dir, 'checkpoint-results.json');
  const r = await ssd(['eval', '--weights', join(full, 'last.safetensors'), '--data', data, '--metric', 'voc07', '--json', json, '--results', results, '--threads', '1', '--workers', '1']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /4 images of .* \(test\)/);
  assert.match(r.stdout, /mAP \(VOC07 11-point\)/);
  const out = JSON.parse(readFileSync(json, 'utf8')) as { metric: string; map: number; ap_per_class: Record<string, number | null> };
  assert.equal(out.metric, 'voc07');
  assert.equal(out.map, evals(full)[0]!.map, 'the mAP of the step-4 weights');
  const aps = Object.values(out.ap_per_class).filter((v): v is number => v !== null);
  assert.ok(aps.length > 0);
  assert.ok(Math.abs(aps.reduce((x, y) => x + y, 0) / aps.length - out.map) < 1e-12, 'map is the mean of the classes with ground truth');
  // --results wrote the detections it scored: scoring that file gives the same mAP.
  const again = join(dir, 'checkpoint-results-map.json');
  const e = await ssd(['eval', '--detections', results, '--data', data, '--metric', 'voc07', '--json', again]);
  assert.equal(e.code, 0, e.stderr);
  assert.ok(Math.abs((JSON.parse(readFileSync(again, 'utf8')) as { map: number }).map - out.map) < 1e-9);
});

test('ssd eval --detections scores results made elsewhere: ground truth as detections gives mAP 1, shifted boxes less', async () => {
  const ds = await loadDataset(data, { split: 'test' });
  const perfect: unknown[] = [];
  const shifted: unknown[] = [];
  for (const s of ds.samples) {
    for (let j = 0; j < s.labels.length; j++) {
      const [x0, y0, x1, y1] = s.boxes.subarray(4 * j, 4 * j + 4);
      perfect.push({ image_id: s.id, category_id: s.labels[j], bbox: [x0, y0, x1! - x0!, y1! - y0!], score: 0.9 });
      // Every other object: a box moved by its own width (no overlap): a false positive and a miss.
      const dx = j % 2 === 0 ? x1! - x0! : 0;
      shifted.push({ image_id: s.id, category_id: s.labels[j], bbox: [x0! + dx, y0, x1! - x0!, y1! - y0!], score: 0.9 });
    }
  }
  const file = join(dir, 'results.json');
  const json = join(dir, 'results-map.json');
  writeFileSync(file, JSON.stringify(perfect));
  let r = await ssd(['eval', '--detections', file, '--data', data, '--metric', 'voc', '--json', json]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(readFileSync(json, 'utf8')) as { map: number }).map, 1);
  writeFileSync(file, JSON.stringify(shifted));
  r = await ssd(['eval', '--detections', file, '--data', data, '--metric', 'voc', '--json', json]);
  assert.equal(r.code, 0, r.stderr);
  const m = (JSON.parse(readFileSync(json, 'utf8')) as { map: number }).map;
  assert.ok(m < 1 && m > 0, `shifted detections give 0 < mAP < 1, got ${m}`);
  // A result naming an image that is not in the split is refused with the entry named.
  writeFileSync(file, JSON.stringify([{ image_id: 'nope', category_id: 1, bbox: [0, 0, 1, 1], score: 1 }]));
  r = await ssd(['eval', '--detections', file, '--data', data]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /results\.json: \[0\]\.image_id "nope" is not an image of the dataset/);
});

test('--help on both verbs, and usage errors name the flag', async () => {
  const train = (await import('../../src/cli/train.js')).command;
  const evaluate = (await import('../../src/cli/eval.js')).command;
  assert.match(train.help, /^usage: ssd train --data/);
  assert.match(evaluate.help, /^usage: ssd eval --weights/);
  for (const flag of ['--iterations', '--epochs', '--no-augment', '--no-shuffle', '--resume', '--eval-every', '--skip-bad', '--workers', '--threads', '--init', '--pretrained-base']) {
    assert.ok(train.help.includes(flag), `ssd train --help documents ${flag}`);
  }
  for (const flag of ['--split', '--metric', '--json', '--detections']) assert.ok(evaluate.help.includes(flag), `ssd eval --help documents ${flag}`);
  await assert.rejects(train.run(['--data', data, '--out', join(dir, 'x'), '--iterations', '2', '--epochs', '1']), { name: 'UsageError', message: /give --iterations or --epochs, not both/ });
  await assert.rejects(train.run(['--data', data]), { name: 'UsageError', message: /--out <run folder> is required/ });
  await assert.rejects(train.run(['--data', data, '--out', join(dir, 'x'), '--batch', '0']), { name: 'UsageError', message: /--batch must be a number in \[1, Infinity\], got '0'/ });
  await assert.rejects(train.run(['--data', data, '--out', join(dir, 'x'), '--lr', '0']), { name: 'UsageError', message: /--lr must be a number > 0, got '0'/ });
  await assert.rejects(evaluate.run(['--data', data, '--weights', 'a', '--detections', 'b']), { name: 'UsageError', message: /one of them/ });
  await assert.rejects(evaluate.run(['--data', data, '--weights', 'a', '--metric', 'map']), { name: 'UsageError', message: /--metric must be voc07, voc or coco, got 'map'/ });
  // Through the real command line: --help exits 0 and prints the verb's usage.
  const r = await ssd(['train', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^usage: ssd train /);
});
