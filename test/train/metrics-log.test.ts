import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MetricsLog, readMetricsLog, type StepRecord } from '../../src/train/metrics-log.js';

const rec = (step: number): StepRecord => ({
  type: 'step', step, epoch: 0, loss: step * 0.5, loc_loss: step * 0.25, conf_loss: step * 0.25, lr: 1e-3, images_per_s: 2, time: new Date(0).toISOString(),
});

test('one JSON line per record; resume cuts the log back to the checkpoint step', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ssd-metrics-'));
  try {
    const path = join(dir, 'metrics.jsonl');
    const log = new MetricsLog(path);
    for (let s = 1; s <= 5; s++) log.append(rec(s));
    log.append({ type: 'eval', step: 5, epoch: 0, metric: 'voc07', map: 0.25, ap_per_class: { a: 0.25 }, time: new Date(0).toISOString() });
    log.close();
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    assert.equal(lines.length, 6);
    assert.deepEqual(JSON.parse(lines[2]!), rec(3));
    // A crash after step 5 with a torn line, resumed from a checkpoint at step 3.
    appendFileSync(path, '{"type":"step","st');
    const resumed = new MetricsLog(path, { resumeFromStep: 3 });
    resumed.append(rec(4));
    resumed.close();
    const records = readMetricsLog(path);
    assert.deepEqual(records.map((r) => r.step), [1, 2, 3, 4]);
    assert.deepEqual(records[3], rec(4));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a malformed line that is not the last is an error naming the line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ssd-metrics-'));
  try {
    const path = join(dir, 'metrics.jsonl');
    appendFileSync(path, JSON.stringify(rec(1)) + '\nnot json\n' + JSON.stringify(rec(2)) + '\n');
    assert.throws(() => readMetricsLog(path), /metrics\.jsonl:2: not a JSON object/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
