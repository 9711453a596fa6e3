import { test } from 'node:test';
import assert from 'node:assert/strict';
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
