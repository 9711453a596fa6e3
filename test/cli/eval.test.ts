// `ssd eval --metric coco` through the command: a COCO instances file and a results file of pycocotools' fixtures
// in, pycocotools' 12 summary lines out (as summarize() printed them), and the 12 numbers in --json.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { command } from '../../src/cli/eval.js';
import { readFixtureSet } from '../fixtures/coco-sets.js';

const dir = mkdtempSync(join(tmpdir(), 'ssd-eval-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]): Promise<{ code: number; stdout: string }> {
  const lines: string[] = [];
  const original = console.log;
  console.log = (...a: unknown[]) => void lines.push(a.join(' '));
  try {
    const code = await command.run(args);
    return { code, stdout: lines.join('\n') };
  } finally {
    console.log = original;
  }
}

test('ssd eval --detections --metric coco prints pycocotools summary lines and writes the 12 numbers', async () => {
  const set = readFixtureSet('crowd');
  // The instances file with stand-ins for its images next to it (the reader checks that they exist).
  const instances = join(dir, 'instances_crowd.json');
  copyFileSync(set.instancesFile, instances);
  for (const im of set.instances.images) writeFileSync(join(dir, im.file_name), '');
  const json = join(dir, 'coco.json');
  const { code, stdout } = await run(['--detections', set.resultsFile, '--data', instances, '--metric', 'coco', '--json', json]);
  assert.equal(code, 0);
  assert.deepEqual(stdout.split('\n').slice(-12), set.expected.summary);
  const out = JSON.parse(readFileSync(json, 'utf8')) as Record<string, unknown>;
  const keys = ['ap', 'ap50', 'ap75', 'ap_small', 'ap_medium', 'ap_large', 'ar1', 'ar10', 'ar100', 'ar_small', 'ar_medium', 'ar_large'];
  keys.forEach((k, i) => assert.ok(Math.abs((out[k] as number) - set.expected.stats[i]!) < 1e-9, `${k}: ${out[k]} vs pycocotools ${set.expected.stats[i]}`));
  assert.equal(out.metric, 'coco');
  assert.equal(out.map, out.ap);
  const perClass = out.ap_per_class as Record<string, number | null>;
  set.expected.categories.forEach((c) => assert.ok(Math.abs(perClass[`class${c.id}`]! - c.stats[0]!) < 1e-9, `class${c.id}`));
});

test('ssd eval --results needs --weights', async () => {
  await assert.rejects(command.run(['--detections', 'a.json', '--data', dir, '--results', 'b.json']), { name: 'UsageError', message: /--results writes the detections of --weights/ });
  assert.ok(command.help.includes('--results'));
});
