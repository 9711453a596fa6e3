// Prints, per fixture of test/fixtures/coco/, our COCO numbers next to pycocotools' (as a markdown table for
// docs/evaluation.md) and the largest difference over the 12 summary numbers and the per-category ones.
// Both ways in: the JSON straight into evaluateDetections, and `ssd eval`'s path (COCO reader, results reader).
// Run: node --import tsx scripts/coco-fixtures/compare.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateDetections } from '../../src/eval/evaluate.js';
import { readCocoResults } from '../../src/train/coco-results.js';
import { evaluateResults } from '../../src/train/evaluate.js';
import { FIXTURE_SETS, fixtureImages, loadFixtureDataset, readFixtureSet, statsOf } from '../../test/fixtures/coco-sets.js';

const scratch = mkdtempSync(join(tmpdir(), 'ssd-coco-compare-'));
const f4 = (v: number) => v.toFixed(4);
const maxDiff = (a: readonly number[], b: readonly number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));

console.log('| set | images | objects (crowd) | detections | AP ours / pycocotools | AP50 | AP75 | AR100 | max diff, 12 numbers | max diff, per category | max diff via `ssd eval` path |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const name of FIXTURE_SETS) {
  const set = readFixtureSet(name);
  const { images, numClasses } = fixtureImages(set);
  const r = evaluateDetections(images, { metric: 'coco', numClasses });
  const ours = statsOf(r.summary);
  const want = set.expected.stats;
  const perClass = Math.max(...set.expected.categories.map((c, k) => maxDiff(statsOf(r.summaryPerClass[k]!), c.stats)));
  const dataset = await loadFixtureDataset(set, scratch);
  const viaCli = evaluateResults(readCocoResults(set.resultsFile, dataset), dataset, 'coco');
  if (viaCli.metric !== 'coco') throw new Error('unreachable');
  const e = set.expected;
  console.log(
    `| ${name} | ${e.images} | ${e.annotations} (${e.crowd}) | ${e.results} | ${f4(ours[0]!)} / ${f4(want[0]!)} | ${f4(ours[1]!)} / ${f4(want[1]!)} | ${f4(ours[2]!)} / ${f4(want[2]!)} | ${f4(ours[8]!)} / ${f4(want[8]!)} | ${maxDiff(ours, want).toExponential(1)} | ${perClass.toExponential(1)} | ${maxDiff(statsOf(viaCli.summary), want).toExponential(1)} |`,
  );
}
rmSync(scratch, { recursive: true, force: true });
