// The progress bar of `ssd detect`: redrawn in place on a terminal, plain lines (rate-limited) in a log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressLine } from '../../src/cli/progress-line.js';

function stream(isTTY: boolean) {
  const out: string[] = [];
  return { out, s: { isTTY, columns: 120, write: (t: string) => void out.push(t) } };
}

test('on a TTY: one line redrawn with a bar, the count and the last file; log lines stay; finish ends the line', () => {
  const { out, s } = stream(true);
  const p = new ProgressLine('detect', 4, s);
  p.tick(1, 'a.jpg');
  p.tick(1, 'b.jpg');
  assert.equal(out.length, 2);
  assert.ok(out.every((l) => l.startsWith('\r\x1b[2K')), 'each update redraws the line');
  assert.match(out[1]!, /detect 2\/4 \[#{10}\.{10}\] 50% .* b\.jpg$/);
  p.log('warning: c.jpg is broken');
  assert.equal(out[2], '\r\x1b[2K');
  assert.equal(out[3], 'warning: c.jpg is broken\n');
  p.tick(2, 'd.jpg');
  p.finish();
  assert.match(out[4]!, /4\/4 \[#{20}\] 100%/);
  assert.equal(out[5], '\n');
});

test('in a log: plain lines, at most one per interval, plus the last', () => {
  const { out, s } = stream(false);
  const p = new ProgressLine('detect', 100, s, 'img', 60_000);
  for (let i = 0; i < 100; i++) p.tick(1, `${i}.jpg`);
  assert.equal(out.length, 2, 'the first update and the last');
  assert.match(out[0]!, /^detect 1\/100 1% /);
  assert.match(out[1]!, /^detect 100\/100 100% .*\n$/);
  assert.ok(out.every((l) => !l.includes('\r')));
});

/** The count and percentage of every line printed. */
const figures = (out: string[]): Array<[number, number]> =>
  out.map((l) => /^(?:\r\x1b\[2K)?\S+ (\d+)\/\d+(?: \[[#.]+\])? (\d+)%/.exec(l)).filter((m) => m !== null).map((m) => [Number(m![1]), Number(m![2])]);

test('a video whose frame count was estimated: the count and the percentage never go down, and the end shows 100%', () => {
  for (const [estimate, frames] of [[10, 13], [20, 13]] as const) {
    const { out, s } = stream(true);
    const p = new ProgressLine('clip.mp4', estimate, s, 'frame');
    for (let i = 0; i < frames; i++) p.tick(1);
    p.finish(true);
    const shown = figures(out);
    for (let i = 1; i < shown.length; i++) assert.ok(shown[i]![0] >= shown[i - 1]![0] && shown[i]![1] >= shown[i - 1]![1], `estimate ${estimate}: ${JSON.stringify(shown)}`);
    assert.deepEqual(shown.at(-1), [frames, 100]);
    assert.match(out.filter((l) => l.includes('%')).at(-1)!, new RegExp(`clip\\.mp4 ${frames}/${frames} \\[#{20}\\] 100% .* frame/s`));
  }
  // Without an estimate: the count and the rate, no percentage.
  const { out, s } = stream(false);
  const p = new ProgressLine('clip.mp4', undefined, s, 'frame', 0);
  p.tick(1);
  p.tick(1);
  assert.match(out[1]!, /^clip\.mp4 2 [\d.]+ frame\/s\n$/);
});

test('ssd detect over images: count and percentage never go down', () => {
  const { out, s } = stream(true);
  const p = new ProgressLine('detect', 7, s);
  for (let i = 0; i < 7; i++) p.tick(1, `${i}.jpg`);
  p.finish(true);
  const shown = figures(out);
  assert.deepEqual(shown.map((f) => f[0]), [1, 2, 3, 4, 5, 6, 7]);
  for (let i = 1; i < shown.length; i++) assert.ok(shown[i]![1] >= shown[i - 1]![1]);
});
