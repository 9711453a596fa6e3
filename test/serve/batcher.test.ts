// The micro-batching queue: batches fill up to maxBatch, a lone item waits at most maxWaitMs, items that queue
// during a run go together next, errors reach every item of their batch, a full queue refuses, drain waits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MicroBatcher, QueueFullError } from '../../src/serve/batcher.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('items submitted together run as one batch (up to maxBatch), each gets its own output', async () => {
  const runs: number[][] = [];
  const b = new MicroBatcher<number, number>(async (xs) => (runs.push(xs), xs.map((x) => x * 10)), { maxBatch: 4, maxWaitMs: 20 });
  const out = await Promise.all([1, 2, 3, 4, 5, 6].map((x) => b.submit(x)));
  assert.deepEqual(out, [10, 20, 30, 40, 50, 60]);
  assert.deepEqual(runs, [[1, 2, 3, 4], [5, 6]]);
  assert.deepEqual(b.snapshot(), { runs: 2, items: 6, maxBatchSeen: 4, queued: 0, running: 0 });
});

test('a lone item runs after maxWaitMs; items queued during a run go together right after it', async () => {
  const runs: number[][] = [];
  const b = new MicroBatcher<number, number>(async (xs) => {
    runs.push(xs);
    await sleep(60);
    return xs;
  }, { maxBatch: 8, maxWaitMs: 10 });
  const t0 = performance.now();
  const first = b.submit(1);
  await sleep(25); // the first run has started
  assert.equal(b.snapshot().running, 1);
  const rest = [2, 3, 4].map((x) => b.submit(x));
  assert.equal(b.snapshot().queued, 3);
  await Promise.all([first, ...rest]);
  assert.deepEqual(runs, [[1], [2, 3, 4]]);
  assert.ok(performance.now() - t0 < 60 * 2 + 10 + 40, 'the second batch did not wait for maxWaitMs again');
});

test('a failing run rejects every item of its batch and no other', async () => {
  const b = new MicroBatcher<number, number>(async (xs) => {
    if (xs.includes(13)) throw new Error('unlucky batch');
    return xs;
  }, { maxBatch: 2, maxWaitMs: 5 });
  const results = await Promise.allSettled([12, 13, 14, 15].map((x) => b.submit(x)));
  assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected', 'fulfilled', 'fulfilled']);
  assert.match(String((results[0] as PromiseRejectedResult).reason), /unlucky batch/);
});

test('a full queue refuses with QueueFullError; drain runs what is queued, then refuses new items', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const b = new MicroBatcher<number, number>(async (xs) => (await gate, xs), { maxBatch: 1, maxWaitMs: 0, maxQueue: 2 });
  const a = b.submit(1); // running
  const q = [b.submit(2), b.submit(3)]; // queued: the queue is full
  await assert.rejects(b.submit(4), QueueFullError);
  const drained = b.drain();
  await assert.rejects(b.submit(5), /shutting down/);
  release();
  await drained;
  assert.deepEqual(await Promise.all([a, ...q]), [1, 2, 3]);
  assert.equal(b.snapshot().items, 3);
});

test('stopWaiting: an item waiting for company runs at once, and later ones do not wait either', async () => {
  const runs: number[][] = [];
  const b = new MicroBatcher<number, number>(async (xs) => (runs.push(xs), xs), { maxBatch: 8, maxWaitMs: 10_000 });
  const t0 = performance.now();
  const first = b.submit(1);
  await sleep(20);
  assert.deepEqual(runs, [], 'still waiting for company');
  b.stopWaiting();
  assert.equal(await first, 1);
  assert.equal(await b.submit(2), 2);
  assert.ok(performance.now() - t0 < 1000, `took ${(performance.now() - t0).toFixed(0)} ms`);
  assert.deepEqual(runs, [[1], [2]]);
});
