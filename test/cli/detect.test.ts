// `ssd detect`: images and folders in, annotated copies and one JSON file out; unreadable files named and
// skipped; COCO results (named by file or by a dataset); the command end to end on a real SSD300 model file.
// The library under it (src/predict) has its own tests in test/predict/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { command } from '../../src/cli/detect.js';
import { loadDataset } from '../../src/data/dataset.js';
import { detectionsToCocoResults, readCocoResults } from '../../src/train/coco-results.js';
import { SSD } from '../../src/nn/model.js';
import { modelConfig } from '../../src/nn/models/index.js';
import type { DetectReport } from '../../src/predict/report.js';
import { pngBomb } from '../io/png-bomb.js';
import { WriteError } from '../../src/predict/write-file.js';
import { writeInputImages } from '../predict/input-images.js';
import { encodeMp4, panFrames, testFfmpeg } from '../predict/video-clips.js';

const fixtureRoot = fileURLToPath(new URL('../fixtures/datasets', import.meta.url));
const ffmpeg = testFfmpeg();

let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssd-detect-'));
  await writeInputImages(dir);
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('COCO results of plain files: bbox [x, y, w, h], image_id the stem (a number when all digits), category = class index', () => {
  const names = ['background', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'dog'];
  const { results, dropped } = detectionsToCocoResults(
    [
      { file: 'a/000000000042.jpg', detections: [{ classIndex: 8, score: 0.9, box: { xmin: 1, ymin: 2, xmax: 5.5, ymax: 9 } }] },
      { file: 'b/photo.jpg', detections: [{ classIndex: 12, score: 0.4, box: { xmin: 0, ymin: 0, xmax: 3, ymax: 4 } }] },
    ],
    names,
  );
  assert.deepEqual(results, [
    { image_id: 42, category_id: 8, bbox: [1, 2, 4.5, 7], score: 0.9 },
    { image_id: 'photo', category_id: 12, bbox: [0, 0, 3, 4], score: 0.4 },
  ]);
  assert.equal(dropped.size, 0);
  // Two files with one stem would merge into one image: refused, naming both.
  assert.throws(() => detectionsToCocoResults([{ file: 'a/x.jpg', detections: [] }, { file: 'b/x.png', detections: [] }], names), /a\/x\.jpg and b\/x\.png would both be image_id "x"/);
});

test('ssd detect end to end with an SSD300 model file: JSON report, suppressed classes, exit code 1 naming the broken file', async () => {
  const weights = join(dir, 'ssd300.safetensors');
  SSD.create(undefined, { seed: 5 }).save(weights);
  const errors: string[] = [];
  const original = console.error;
  console.error = (...a: unknown[]) => void errors.push(a.join(' '));
  let code: number;
  try {
    code = await command.run(['--weights', weights, join(dir, 'in', 'gray.png'), join(dir, 'in', 'broken.jpg'), '--out', join(dir, 'out-cli'), '--min-score', '0.3', '--suppress', 'cat,dog']);
  } finally {
    console.error = original;
  }
  assert.equal(code, 1, 'a file failed');
  assert.ok(errors.some((e) => e.includes('broken.jpg')), `stderr names the broken file: ${errors.join(' | ')}`);
  const report = JSON.parse(readFileSync(join(dir, 'out-cli', 'detections.json'), 'utf8')) as DetectReport;
  assert.equal(report.images.length, 1);
  assert.equal(report.failed.length, 1);
  assert.deepEqual(report.options, { minScore: 0.3, maxOverlap: 0.45, topK: 200, suppress: ['cat', 'dog'] });
  assert.ok(existsSync(join(dir, 'out-cli', 'gray.png')));
  const dets = report.images[0]!.detections;
  assert.deepEqual([report.images[0]!.width, report.images[0]!.height], [320, 240]);
  assert.ok(dets.every((d, i) => d.label !== 'cat' && d.label !== 'dog' && d.score > 0.3 && (i === 0 || d.score <= dets[i - 1]!.score)));
  assert.ok(dets.every((d) => d.box.xmin >= 0 && d.box.xmax <= 320 && d.box.ymin >= 0 && d.box.ymax <= 240), 'boxes in pixels, inside the image');
  await assert.rejects(command.run(['--weights', weights]), /name at least one image/);
  await assert.rejects(command.run(['--weights', weights, join(dir, 'in'), '--suppress', 'unicorn']), /unknown class 'unicorn'/);
});

test('ssd detect: an image bomb is skipped from its header with a message naming it and the limit; --max-pixels sets the limit', async () => {
  const weights = join(dir, 'tiny.safetensors');
  SSD.create(modelConfig('ssd-tiny', ['cat', 'dog']), { seed: 1 }).save(weights);
  const bomb = join(dir, 'bomb.png');
  writeFileSync(bomb, pngBomb(16000, 16000));
  const run = async (...extra: string[]): Promise<{ code: number; report: DetectReport }> => {
    const original = console.error;
    console.error = () => undefined;
    try {
      const out = join(dir, `out-bomb${extra.length}`);
      const code = await command.run(['--weights', weights, bomb, join(dir, 'in', 'gray.png'), '--out', out, ...extra]);
      return { code, report: JSON.parse(readFileSync(join(out, 'detections.json'), 'utf8')) as DetectReport };
    } finally {
      console.error = original;
    }
  };
  const t0 = performance.now();
  const { code, report } = await run();
  assert.ok(performance.now() - t0 < 20_000);
  assert.equal(code, 1);
  assert.deepEqual(report.failed, [{ file: bomb, error: `${bomb}: image is 16000x16000 = 256 megapixels, above the limit of 40 megapixels; --max-pixels raises it` }]);
  assert.deepEqual(report.images.map((i) => i.file), [join(dir, 'in', 'gray.png')]);
  // 320x240 = 0.0768 megapixels: refused under a limit of 0.05.
  const low = await run('--max-pixels', '0.05');
  assert.deepEqual(low.report.failed.map((f) => f.error), [
    `${bomb}: image is 16000x16000 = 256 megapixels, above the limit of 0.05 megapixels; --max-pixels raises it`,
    `${join(dir, 'in', 'gray.png')}: image is 320x240 = 0.0768 megapixels, above the limit of 0.05 megapixels; --max-pixels raises it`,
  ]);
  await assert.rejects(command.run(['--weights', weights, bomb, '--max-pixels', 'lots']), /--max-pixels must be a number/);
});

test('ssd detect --coco --data: image and category ids of the dataset, a file ssd eval --detections reads', async () => {
  const weights = join(dir, 'ssd300-coco.safetensors');
  SSD.create(undefined, { seed: 5 }).save(weights); // the 20 VOC classes: person, car and dog are the fixture's too
  const data = join(fixtureRoot, 'coco', 'annotations', 'instances_val.json');
  const out = join(dir, 'out-coco');
  const errors: string[] = [];
  const original = console.error;
  console.error = (...a: unknown[]) => void errors.push(a.join(' '));
  let code: number;
  try {
    code = await command.run(['--weights', weights, '--coco', '--data', data, '--min-score', '0.01', '--out', out]);
  } finally {
    console.error = original;
  }
  assert.equal(code, 0);
  const results = JSON.parse(readFileSync(join(out, 'coco_results.json'), 'utf8')) as { image_id: unknown; category_id: unknown }[];
  assert.ok(results.length > 0, 'a random model at min score 0.01 finds something');
  // COCO image ids are numbers; category ids are the file's (dog 18, person 1, car 3), not class indices.
  assert.ok(results.every((r) => [42, 7, 9].includes(r.image_id as number)), 'COCO image ids, as numbers');
  assert.ok(results.every((r) => [1, 3, 18].includes(r.category_id as number)), 'only category ids of the dataset');
  assert.ok(errors.some((e) => /left out of coco_results\.json: detections of classes .*instances_val\.json does not have: \w+ \(\d+\)/.test(e)), errors.join(' | '));
  const dataset = await loadDataset(data);
  const read = readCocoResults(join(out, 'coco_results.json'), dataset);
  assert.equal(read.reduce((n, d) => n + d.labels.length, 0), results.length, 'ssd eval --detections reads every entry');
  await assert.rejects(command.run(['--weights', weights, '--data', data]), /--data names the dataset .* add --coco/);
  await assert.rejects(command.run(['--weights', weights, '--coco', '--data', data, join(dir, 'in', 'gray.png')]), /gray\.png is not an image of .*instances_val\.json/);
});

/** Runs the verb with stderr's lines captured. */
async function runDetect(argv: string[]): Promise<{ code: number; errors: string[] }> {
  const errors: string[] = [];
  const original = console.error;
  console.error = (...a: unknown[]) => void errors.push(a.join(' '));
  try {
    return { code: await command.run(argv), errors };
  } finally {
    console.error = original;
  }
}

test('ssd detect refuses an --out that is, or is inside, an input folder, or holds an input file, before any work', async () => {
  const weights = join(dir, 'no-model-needed.safetensors'); // never read: the check comes first
  await assert.rejects(command.run(['--weights', weights, join(dir, 'in'), '--out', join(dir, 'in')]), /^UsageError: ssd detect: the output folder .* is the input folder .*in: annotated copies would replace the originals/);
  await assert.rejects(command.run(['--weights', weights, join(dir, 'in'), '--out', join(dir, 'in', 'sub', 'detect')]), /is inside the input folder/);
  await assert.rejects(command.run(['--weights', weights, join(dir, 'in', 'gray.png'), '--out', join(dir, 'in')]), /holds the input .*gray\.png: its annotated copy would replace it/);
  assert.ok(!existsSync(join(dir, 'in', 'sub', 'detect')), 'nothing written');
});

test('ssd detect over a folder with a dangling link, a link loop and a name that is not UTF-8: each named and counted, every image processed', async () => {
  const weights = join(dir, 'tiny-walk.safetensors');
  SSD.create(modelConfig('ssd-tiny', ['cat', 'dog']), { seed: 1 }).save(weights);
  const folder = join(dir, 'walk');
  mkdirSync(folder);
  copyFileSync(join(dir, 'in', 'gray.png'), join(folder, 'gray.png'));
  symlinkSync(join(dir, 'nowhere.jpg'), join(folder, 'dangling.jpg'));
  symlinkSync('.', join(folder, 'loop'));
  writeFileSync(Buffer.concat([Buffer.from(folder + '/'), Buffer.from('caf\xe9.png', 'latin1')]), readFileSync(join(dir, 'in', 'gray.png')));
  const out = join(dir, 'out-walk');
  const { code, errors } = await runDetect(['--weights', weights, folder, '--out', out]);
  assert.equal(code, 0, errors.join('\n'));
  const report = JSON.parse(readFileSync(join(out, 'detections.json'), 'utf8')) as DetectReport;
  assert.deepEqual(report.images.map((i) => i.file), [join(folder, 'gray.png')]);
  assert.deepEqual(report.skipped.map((s) => s.path), [join(folder, 'caf\xe9.png'), join(folder, 'dangling.jpg'), join(folder, 'loop')]);
  for (const s of report.skipped) assert.ok(errors.includes(`ssd detect: skipped ${s.path}: ${s.reason}`), `stderr names ${s.path}`);
});

test('ssd detect: a results file that cannot be written names it and what to do', async () => {
  const weights = join(dir, 'tiny-write.safetensors');
  SSD.create(modelConfig('ssd-tiny', ['cat', 'dog']), { seed: 1 }).save(weights);
  const out = join(dir, 'out-blocked');
  mkdirSync(join(out, 'detections.json'), { recursive: true });
  await assert.rejects(runDetect(['--weights', weights, join(dir, 'in', 'gray.png'), '--out', out]), (e: Error) => e instanceof WriteError && /^cannot write the run's results file .*detections\.json: EISDIR.*; a folder of that name is in the way: move it, or give another --out$/.test(e.message));
  await assert.rejects(command.run(['--wieghts', weights, join(dir, 'in')]), /^UsageError: ssd detect: unknown flag --wieghts; did you mean --weights\?$/);
});

test('ssd detect on a video: JSON lines and an annotated MP4 per video, listed in detections.json; --every; frames/s in the summary', { skip: ffmpeg === undefined ? 'no ffmpeg here' : false }, async () => {
  const weights = join(dir, 'tiny-video.safetensors');
  SSD.create(modelConfig('ssd-tiny', ['cat', 'dog']), { seed: 1 }).save(weights);
  const clip = join(dir, 'clips', 'walk.mp4');
  mkdirSync(join(dir, 'clips'));
  await encodeMp4(ffmpeg!, clip, panFrames(160, 120, 6), 160, 120, 12);
  const out = join(dir, 'out-video');
  const { code, errors } = await runDetect(['--weights', weights, join(dir, 'clips'), join(dir, 'in', 'gray.png'), '--every', '2', '--min-score', '0.05', '--out', out]);
  assert.equal(code, 0, errors.join('\n'));
  const report = JSON.parse(readFileSync(join(out, 'detections.json'), 'utf8')) as DetectReport;
  assert.deepEqual(report.images.map((i) => i.file), [join(dir, 'in', 'gray.png')]);
  const v = report.videos![0]!;
  assert.deepEqual({ ...v, objects: 0 }, { file: clip, detections: 'walk.detections.jsonl', annotated: 'walk.annotated.mp4', width: 160, height: 120, fps: 12, frames: 6, detected: 3, every: 2, objects: 0 });
  const lines = readFileSync(join(out, v.detections), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { frame: number; time: number; detections: unknown[] });
  assert.deepEqual(lines.map((l) => l.frame), [0, 2, 4]);
  assert.equal(v.objects, lines.reduce((n, l) => n + l.detections.length, 0));
  assert.match(errors.at(-1)!, /^ssd detect: 1 image, \d+ detections?; 1 video \(6 frames, 3 detected\), \d+ detections? in [\d.]+ s \([\d.]+ img\/s\); annotated copies and detections\.json in /);
  const onlyVideo = await runDetect(['--weights', weights, clip, '--out', join(dir, 'out-video-only')]);
  assert.match(onlyVideo.errors.at(-1)!, /^ssd detect: 1 video \(6 frames, 6 detected\), \d+ detections? in [\d.]+ s \([\d.]+ frames\/s\)/);
  await assert.rejects(command.run(['--weights', weights, '--coco', clip, '--out', join(dir, 'out-coco-video')]), /--coco writes results of images; .*walk\.mp4 is a video/);
});
