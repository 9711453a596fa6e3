// `ssd priors` as a user types it: the listing, the fit on a generated dataset (the numbers measurePriorFit gives),
// the picture, and the usage errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { command, type PriorsReport } from '../../src/cli/priors.js';
import { UsageError } from '../../src/cli/command.js';
import { runVerb } from './run-verb.js';
import { measurePriorFit } from '../../src/boxes/prior-fit.js';
import { loadDataset } from '../../src/data/dataset.js';
import { generateShapesDataset } from '../../src/data/synthetic.js';
import { ssdlitePriors } from '../../src/nn/models/ssdlite.js';

let dir = '';
let data = '';
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssd-priors-cli-'));
  data = join(dir, 'shapes');
  await generateShapesDataset(data, { images: 24, size: [96, 160], seed: 4 });
});
after(() => rmSync(dir, { recursive: true, force: true }));

const run = (argv: string[]) => runVerb(command, argv);

const usage = (pattern: RegExp) => (e: Error) => e instanceof UsageError && pattern.test(e.message);

test('without data: the priors map by map, in pixels of the input', async () => {
  const { code, out } = await run(['--model', 'ssd300']);
  assert.equal(code, 0);
  assert.match(out, /^ssd300 at 300x300: 8732 priors on 6 maps/);
  // conv4_3's map: scale 0.1, ratios 1, 1' (sqrt(0.1 x 0.2)), 2, 1/2.
  assert.match(out, /\n {2}38x38 +step 7\.9 +scale 0\.100 \(30 px\) +1 30x30, 1' 42x42, 2 42x21, 1\/2 21x42\n/);
  assert.match(out, /\n {2}1x1 +step 300\.0 +scale 0\.900 \(270 px\) +1 270x270, 1' 300x300, 2 300x191, 1\/2 191x300$/);
});

test('with data: the fit measurePriorFit gives, a suggestion for a poor fit, and the picture', async () => {
  const out = join(dir, 'lite.png');
  const { code, out: json } = await run(['--model', 'ssdlite320-mobilenetv2', '--data', data, '--split', 'train', '--out', out, '--json']);
  assert.equal(code, 0);
  const r = JSON.parse(json) as PriorsReport;
  const dataset = await loadDataset(data, { split: 'train' });
  const fit = measurePriorFit(ssdlitePriors(320), dataset.samples, { classNames: dataset.classNames });
  assert.equal(r.fit!.objects, fit.objects);
  assert.equal(r.fit!.matched, fit.matched);
  assert.deepEqual(r.fit!.histogram, fit.histogram);
  assert.deepEqual(r.fit!.maps.map((m) => m.objects), fit.maps.map((m) => m.objects));
  assert.equal(r.fit!.verdict, fit.matchedShare >= 0.95 ? 'good' : 'poor');
  assert.equal(r.suggestion !== undefined, fit.matchedShare < 0.95);
  if (r.suggestion) assert.ok(r.suggestion.matchedShare >= fit.matchedShare);
  assert.deepEqual(r.data, { source: data, format: 'voc', split: 'train', images: dataset.samples.length });
  // Six maps: 3 x 2 panels of 320 px.
  const meta = await sharp(out).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 3 * 320 + 4 * 8, 2 * (36 + 320) + 3 * 8]);
  assert.deepEqual(r.picture, { file: out, width: meta.width, height: meta.height, image: dataset.samples.find((s) => s.labels.length > 0)!.imagePath });
  // An existing picture is refused without --force, and left as it was.
  const before = statSync(out).mtimeMs;
  await assert.rejects(run(['--model', 'ssd-tiny', '--out', out]), usage(/lite\.png exists; give --force to replace it/));
  assert.equal(statSync(out).mtimeMs, before);
  const forced = await run(['--model', 'ssd-tiny', '--out', out, '--force']);
  assert.match(forced.out, /picture: .*lite\.png \(504x576, on a plain canvas\)/);
  // The text report names the worst unreached objects by file.
  const text = (await run(['--model', 'ssdlite320-mobilenetv2', '--data', data, '--split', 'train'])).out;
  assert.ok(text.includes(`matched: ${fit.matched} of ${fit.objects} objects (${(100 * fit.matchedShare).toFixed(1)}%) reach IoU 0.5 with some prior`), text);
  if (fit.unreached > 0) assert.ok(text.includes(`${fit.examples[0]!.imagePath}: ${fit.examples[0]!.className}`));
});

test('usage errors name the flag', async () => {
  await assert.rejects(run(['--model', 'yolo']), usage(/unknown model 'yolo'; known: ssd300, ssd512/));
  await assert.rejects(run(['--image', '000001']), usage(/--image names an image of --data; give --data/));
  await assert.rejects(run(['--at', '2,0.5']), usage(/--at takes x,y as fractions of the image \(0\.\.1\), got '2,0\.5'/));
  await assert.rejects(run(['--at', '0.5']), usage(/--at takes x,y/));
  await assert.rejects(run(['--out', 'priors.jpg']), usage(/--out writes a PNG; give a \.png file name/));
  await assert.rejects(run(['--weights', 'm.safetensors', '--model', 'ssd300']), usage(/give --weights or --model, not both/));
  await assert.rejects(run(['--match-threshold', '0']), usage(/--match-threshold must be a number in \[0\.01, 1\]/));
  await assert.rejects(run(['--model', 'ssd300', 'extra']), usage(/unexpected argument 'extra'/));
  await assert.rejects(run(['--colour']), usage(/ssd priors: unknown flag --colour; ssd priors --help lists the flags/));
  await assert.rejects(run(['--data', data, '--split', 'train', '--image', 'nope', '--out', join(dir, 'x.png')]), usage(/no image 'nope' in .*shapes \(split train\)/));
  assert.deepEqual(readdirSync(dir).sort(), ['lite.png', 'shapes']);
});
