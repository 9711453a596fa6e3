// SSD.load reads a training checkpoint (runs/<name>/last.safetensors) as the model it holds: the parameters
// under their names, the config from `ssd.config`, the `optimizer/...` tensors left out. A model file (no
// `ssd.train_state`) with such a tensor is still refused: only a checkpoint may carry optimizer state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SSD } from '../../src/nn/model.js';
import { modelConfig } from '../../src/nn/models/index.js';
import { encodeSafetensors } from '../../src/io/safetensors.js';
import { saveCheckpoint, type NamedTensor } from '../../src/train/checkpoint.js';

const dir = mkdtempSync(join(tmpdir(), 'ssd-ckpt-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

test('SSD.load reads a training checkpoint, leaving out its optimizer tensors, and predicts as the saved model', async () => {
  const model = SSD.create(modelConfig('ssd-tiny', ['cat', 'dog']), { seed: 3, threads: 2 });
  const parameters = new Map<string, NamedTensor>();
  const optimizer = new Map<string, NamedTensor>();
  for (const spec of model.network.parameters()) {
    const data = model.weights.get(spec.name)!;
    parameters.set(spec.name, { shape: spec.shape, data });
    optimizer.set(spec.name, { shape: spec.shape, data: data.map((v) => -v) });
  }
  const path = join(dir, 'last.safetensors');
  saveCheckpoint(path, { parameters, optimizer, state: { step: 4, epoch: 0, batchInEpoch: 4, seed: 3 }, modelConfig: model.config, trainConfig: { batch: 2 } });

  const back = await SSD.load(path, { threads: 2 });
  assert.deepEqual(back.config, model.config);
  assert.deepEqual([...back.weights.keys()], [...model.weights.keys()]);
  for (const [k, v] of model.weights) assert.deepEqual(back.weights.get(k), v, `weight '${k}'`);
  const { width, height } = model.config.inputSize;
  const image = new Float32Array(3 * width * height).map((_, i) => Math.sin(i * 0.01));
  const a = await model.predict(image, 1);
  const b = await back.predict(image, 1);
  assert.deepEqual(b.locs, a.locs);
  assert.deepEqual(b.scores, a.scores);
  await model.dispose();
  await back.dispose();
});

test('a model file (not a checkpoint) holding an optimizer tensor is refused, naming the tensor', () => {
  const model = SSD.create(modelConfig('ssd-tiny', ['cat']), { seed: 1 });
  const tensors: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
  for (const spec of model.network.parameters()) tensors[spec.name] = { shape: spec.shape, data: model.weights.get(spec.name)! };
  tensors['optimizer/x'] = { shape: [1], data: new Float32Array(1) };
  const bytes = encodeSafetensors(tensors, { 'ssd.config': JSON.stringify(model.config) });
  assert.throws(() => SSD.fromBytes(bytes, { name: 'm.safetensors' }), /unexpected tensor 'optimizer\/x'/);
});
