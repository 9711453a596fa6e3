// The demo end to end at a tiny budget: it generates the data set, trains, evaluates, draws and writes
// report.html, metrics.json (with its schema) and a model file that reloads to the same detections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDemo } from '../../src/demo/demo.js';
import { SSD } from '../../src/nn/model.js';
import { readMetricsLog } from '../../src/train/metrics-log.js';

test('ssd demo --minutes 0.15: files, metrics.json schema, report content, last lines', async () => {
  const out = mkdtempSync(join(tmpdir(), 'ssd-demo-'));
  const lines: string[] = [];
  try {
    const r = await runDemo({ out, minutes: 0.15, images: 60, batch: 4, showImages: 2, threads: 2, workers: 0, progress: false, log: (l) => lines.push(l) });
    for (const f of ['report.html', 'metrics.json', 'metrics.jsonl', 'model.safetensors', 'shapes/ImageSets/Main/test.txt', 'shapes/ImageSets/Main/val.txt']) {
      assert.ok(existsSync(join(out, f)), `${f} written`);
    }
    const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(m).slice(0, 4), ['map', 'metric', 'ap_per_class', 'train_seconds']);
    assert.equal(m.metric, 'voc07');
    assert.ok(typeof m.map === 'number' && m.map >= 0 && m.map <= 1);
    const ap = m.ap_per_class as Record<string, number | null>;
    assert.deepEqual(Object.keys(ap), ['circle', 'square', 'triangle', 'star', 'cross']);
    for (const v of Object.values(ap)) assert.ok(v === null || (v >= 0 && v <= 1));
    // mAP is the mean of the classes that have ground truth in the test split.
    const present = Object.values(ap).filter((v): v is number => v !== null);
    assert.ok(Math.abs((m.map as number) - present.reduce((a, b) => a + b, 0) / present.length) < 1e-9);
    assert.ok((m.train_seconds as number) >= 0.15 * 60 * 0.95, `trained ${m.train_seconds} s of a 9 s budget`);
    assert.equal(r.map, m.map);
    // The metrics log has one record per step, the report shows its curves and the annotated scenes.
    const log = readMetricsLog(join(out, 'metrics.jsonl'));
    const steps = log.filter((x) => x.type === 'step');
    assert.equal(steps.length, r.steps);
    const evals = log.filter((x) => x.type === 'eval');
    assert.equal(evals.length, 1);
    assert.equal(evals[0]!.map, r.map);
    assert.ok(r.steps >= 1);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.equal(r.annotated.length, 2);
    for (const a of r.annotated) {
      assert.ok(existsSync(a));
      assert.ok(html.includes(`src="detections/${a.split(/[\\/]/).pop()}"`), `report shows ${a}`);
    }
    assert.ok(html.includes('<svg') && html.includes('Precision-recall'));
    // The last lines say the mAP and where the report is.
    assert.match(lines.at(-2)!, /mAP \(VOC07\) on \d+ held-out scenes: \d\.\d{4}/);
    assert.equal(lines.at(-1), `report: ${join(out, 'report.html')}`);
    // The model file loads as any ssd-ts model and detects.
    const model = await SSD.load(join(out, 'model.safetensors'), { threads: 1 });
    const again = await model.detect(join(out, 'shapes', 'JPEGImages', '000001.jpg'), { minScore: 0.01 });
    await model.dispose();
    assert.equal(model.config.architecture, 'ssd-tiny');
    assert.ok(again.every((d) => d.score > 0.01 && d.box.xmax <= 256 && d.box.ymax <= 256));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
