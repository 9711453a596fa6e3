// Writes what check.py needs to run our graphs in Python's onnxruntime: the SSD300 graphs with their parameters
// as inputs or stripped (check.py rebuilds the reference recipe weights by name, so nothing large travels), the
// matched targets of the reference training step, and onnxruntime-node's outputs to compare with.
// Usage: node --import tsx scripts/python-onnxruntime/prepare.ts <out-dir>
//        python3 scripts/python-onnxruntime/check.py <out-dir>
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { BoxCoder } from '../../src/boxes/coder.js';
import { Matcher } from '../../src/boxes/match.js';
import { generatePriors } from '../../src/boxes/priors.js';
import { buildTrainingGraph, gradients, ONNX, SGD } from '../../src/graph/index.js';
import { exportOnnx } from '../../src/nn/export.js';
import { modelConfig } from '../../src/nn/models/index.js';
import { SSD } from '../../src/nn/model.js';
import { matchBatch } from '../../src/nn/targets.js';
import { manifest, referenceObjects } from '../../test/fixtures/reference.js';
import { recipeImage, recipeWeights, referenceStateDict } from '../../test/nn/recipe.js';

const out = process.argv[2];
if (!out) throw new Error('usage: prepare.ts <out-dir>');
mkdirSync(out, { recursive: true });
const write = (name: string, data: Uint8Array | string) => writeFileSync(join(out, name), data);
const raw = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

const model = SSD.create(modelConfig('ssd300'), { weights: recipeWeights() });
const net = model.network;
const weights = model.weights;

// Targets of the reference training step: the ground truth of loss images 1 and 3, matched here.
const matcher = new Matcher(new BoxCoder(generatePriors(model.config.priors), { variances: model.config.variances }));
const targets = matchBatch(matcher, [referenceObjects(1), referenceObjects(3)]);
write('true_classes.i64', raw(targets.classes.data));
write('true_offsets.f32', raw(targets.offsets.data));

// 1. Forward (raw outputs too) + loss + every parameter's gradient, parameters as inputs.
const lg = net.lossGraph(weights, { batch: 2 });
lg.graph.output(lg.locs, 'locs');
lg.graph.output(lg.scores, 'scores');
const grads = gradients(lg.graph, lg.terms.loss, lg.graph.parameters);
for (const p of lg.graph.parameters) lg.graph.output(grads.get(p.name)!, `grad:${p.name}`);
write('ssd300-gradients.onnx', lg.graph.toBytes({ parameters: 'inputs' }));

// 2. The self-contained training graph (forward, loss, backward, SGD update; parameters and momentum in and out).
const tg = net.lossGraph(weights, { batch: 2 });
const sgd = { optimizer: new SGD({ momentum: 0.9, weightDecay: 5e-4 }), lrMultipliers: { weight: 1, bias: 2 } };
write('ssd300-train.onnx', buildTrainingGraph(tg.graph, tg.terms.loss, sgd).toBytes({ parameters: 'inputs' }));

// 3. The exported detector (`ssd export --postprocess`), weights stripped; and onnxruntime-node's detections.
const opts = { withPostprocess: true, minScore: 0.01, maxOverlap: 0.45, topK: 200 };
const exported = exportOnnx(model, opts);
const session = await ort.InferenceSession.create(exported, { logSeverityLevel: 3 });
const image = recipeImage();
const det = await session.run({ images: new ort.Tensor('float32', image.data, image.dims) });
await session.release();
for (const name of ['boxes', 'labels', 'scores', 'num_detections']) write(`node_${name}.bin`, raw((det[name] as ort.Tensor).data as ArrayBufferView));
const proto = ONNX.ModelProto.decode(exported);
const stateKeys = new Set(referenceStateDict.map((e) => e.key));
let stripped = 0;
for (const t of proto.graph!.initializer!) {
  if (!stateKeys.has(t.name!)) continue;
  t.rawData = new Uint8Array(0);
  t.floatData = [];
  stripped++;
}
write('ssd300-export-stripped.onnx', ONNX.ModelProto.encode(proto).finish());

for (const f of ['forward_locs.f32', 'forward_scores.f32']) copyFileSync(join('test/fixtures/reference', f), join(out, f));
write(
  'expected.json',
  JSON.stringify({
    state_dict: manifest.state_dict,
    forward_input: manifest.forward_input,
    train_step: manifest.train_step,
    sgd,
    export: { ...opts, stripped, dims: Object.fromEntries(Object.entries(det).map(([k, v]) => [k, (v as ort.Tensor).dims])) },
  }),
);
console.log(JSON.stringify({ out, files: 10, stripped_initializers: stripped }));
