// `ssd quantize` through the command: a model file and a dataset in, an int8 model file out that SSD.load runs;
// and what it refuses before spending time, each with a message that says what is wrong.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { command } from '../../src/cli/quantize.js';
import { generateShapesDataset } from '../../src/data/synthetic.js';
import { SSD } from '../../src/nn/model.js';
import { modelConfig } from '../../src/nn/models/index.js';
import { runVerb } from './run-verb.js';

const dir = mkdtempSync(join(tmpdir(), 'ssd-quantize-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const data = join(dir, 'shapes');
const weights = join(dir, 'tiny.safetensors');

before(async () => {
  const s = await generateShapesDataset(data, { images: 8, size: 96, seed: 5, splits: { train: 0.75, val: 0, test: 0.25 } });
  SSD.create(modelConfig('ssd-tiny', s.classNames, { inputSize: 96 }), { seed: 2 }).save(weights);
});

/** The command's error (a rejection) as text. */
async function failure(argv: string[]): Promise<string> {
  try {
    await command.run(argv);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`ssd quantize ${argv.join(' ')} did not fail`);
}

test('ssd quantize writes an int8 model file that SSD.load runs, and reports each layer', async () => {
  const out = join(dir, 'tiny.int8.onnx');
  const { code, out: printed } = await runVerb(command, ['--weights', weights, '--data', data, '--images', '4', '--report', '--json', join(dir, 'report.json')]);
  assert.equal(code, 0);
  assert.ok(existsSync(out), 'the default output is <weights>.int8.onnx');
  assert.match(printed, /^layer +kind +shape +int8 +own err +in model +fp32 ms +int8 ms$/m);
  assert.match(printed, /^backbone\.stem\.0 +conv +3->16 3x3 +yes +0\.\d{4}/m);
  assert.match(printed, /outputs of the int8 model: box offsets 0\.\d{4}, class probabilities 0\.\d{4}/);
  const model = await SSD.load(out);
  assert.equal(model.onnx?.precision, 'int8');
  const quantization = JSON.parse(model.onnx!.metadata['ssd.quantization']!);
  assert.equal(quantization.images, 4);
  assert.equal(quantization.method, 'percentile');
  assert.ok((await model.detect(join(data, 'JPEGImages', '000001.jpg'), { minScore: 0.01 })).length > 0);
  await model.dispose();
  // It lists the layers --exclude names.
  const listed = await runVerb(command, ['--weights', weights, '--list-layers']);
  assert.match(listed.out, /^head\.cl_conv6_2 +conv +128->24 3x3$/m);
});

test('ssd quantize refuses what it cannot do, saying why', async () => {
  const int8 = join(dir, 'refuse.int8.onnx');
  await command.run(['--weights', weights, '--data', data, '--images', '2', '--out', int8]);
  assert.match(await failure(['--weights', int8, '--data', data, '--out', join(dir, 'x.onnx')]), /refuse\.int8\.onnx is an int8 ONNX model already \(it is quantized\); quantize the \.safetensors model file it was made from/);
  assert.match(await failure(['--weights', weights, '--data', data, '--images', '2', '--exclude', 'backbone.conv9*', '--out', join(dir, 'y.onnx')]), /no layer is named 'backbone\.conv9\*'/);
  assert.match(await failure(['--weights', weights, '--data', data, '--out', int8]), /refuse\.int8\.onnx exists; give another --out, or --force to replace it/);
  assert.match(await failure(['--weights', weights, '--data', data, '--out', weights, '--force']), /is the model file itself/);
  // A dataset without images (a COCO file of categories only).
  const empty = join(dir, 'instances_empty.json');
  writeFileSync(empty, JSON.stringify({ images: [], annotations: [], categories: [{ id: 1, name: 'circle' }] }));
  assert.match(await failure(['--weights', weights, '--data', empty, '--out', join(dir, 'z.onnx')]), /instances_empty\.json has no images; calibration runs images of the data the model will see through it/);
  assert.match(await failure(['--weights', weights, '--data', data, '--method', 'mean']), /--method must be one of minmax, percentile, entropy, got 'mean'/);
  assert.match(await failure(['--weights', weights]), /--data <dataset> is required/);
  assert.match(await failure(['--weights', weights, '--data', data, '--max-layer-error', '0.1']), /--max-layer-error needs --auto-exclude/);
});
