// The package as a consumer sees it: a small program that imports 'ssd-ts' and its subpaths (through package.json
// "exports" and the built declarations in dist/), type-checked with the project's TypeScript and run with node.
// Its results are checked against facts it cannot make up: box IoU of known boxes, mAP of perfect detections,
// a model that survives a round trip through its file bytes, a graph that adds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

const program = `
import { SSD, modelConfig, MODELS, type Detection } from 'ssd-ts';
import { iouMatrix } from 'ssd-ts/boxes';
import { evaluateDetections } from 'ssd-ts/eval';
import { Graph, InferenceRunner } from 'ssd-ts/graph';
import { ssdTiny } from 'ssd-ts/nn';
import { cosineSchedule } from 'ssd-ts/train';
import { IMAGENET_NORMALIZATION } from 'ssd-ts/data';

const iou = iouMatrix(Float32Array.of(0, 0, 2, 2), Float32Array.of(1, 1, 3, 3));
const perfect = evaluateDetections(
  [{ detections: { boxes: [0, 0, 10, 10], labels: [1], scores: [0.9] }, groundTruth: { boxes: [0, 0, 10, 10], labels: [1] } }],
  { metric: 'voc07', numClasses: 1 },
);
const g = new Graph('add');
const x = g.input('x', 'float32', [2]);
g.output(g.add(x, 1), 'y');
const runner = await InferenceRunner.create(g);
const y = await runner.run({ x: { data: Float32Array.of(1, 2), dims: [2], dtype: 'float32' } });
await runner.release();
const model = SSD.create(modelConfig('ssd-tiny', ['cat', 'dog'], { inputSize: 96 }), { seed: 1, threads: 1 });
const back = SSD.fromBytes(model.toBytes());
const pixels = { data: new Uint8Array(96 * 96 * 3).fill(128), width: 96, height: 96, channels: 3 as const };
const a: Detection[] = await model.detect(pixels, { minScore: 0.01 });
const b: Detection[] = await back.detect(pixels, { minScore: 0.01 });
await model.dispose();
await back.dispose();
console.log(JSON.stringify({
  iou: iou[0],
  map: perfect.map,
  y: [...(y.y!.data as Float32Array)],
  models: [...MODELS.keys()],
  priors: ssdTiny(3, { inputSize: 96 }).priorCount,
  sameDetections: JSON.stringify(a) === JSON.stringify(b),
  detections: a.length,
  lr: cosineSchedule({ baseLr: 0.1 }).lrAt(0, 1),
  mean: IMAGENET_NORMALIZATION.mean,
}));
`;

const tsconfig = { compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: true, types: ['node'], outDir: 'out' }, include: ['main.ts'] };

test('a program against the built package: root and subpath imports type-check and run', () => {
  const build = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { encoding: 'utf8' });
  assert.equal(build.status, 0, `the build failed:\n${build.stdout}${build.stderr}`);
  const dir = mkdtempSync(join(tmpdir(), 'ssd-consumer-'));
  try {
    mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
    symlinkSync(root, join(dir, 'node_modules', 'ssd-ts'), 'dir');
    symlinkSync(join(root, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'), 'dir');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
    writeFileSync(join(dir, 'main.ts'), program);
    const compiled = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
    assert.equal(compiled.status, 0, `the consumer does not type-check:\n${compiled.stdout}${compiled.stderr}`);
    const ran = spawnSync(process.execPath, [join(dir, 'out', 'main.js')], { encoding: 'utf8', cwd: dir });
    assert.equal(ran.status, 0, ran.stderr);
    const r = JSON.parse(ran.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    assert.ok(Math.abs((r.iou as number) - 1 / 7) < 1e-6, `IoU of two 2x2 boxes overlapping by 1: ${r.iou}`);
    assert.equal(r.map, 1);
    assert.deepEqual(r.y, [2, 3]);
    assert.deepEqual(r.models, ['ssd300', 'ssd512', 'ssdlite320-mobilenetv2', 'ssd-tiny']);
    assert.equal(r.priors, 4 * (12 * 12 + 6 * 6 + 3 * 3 + 1 * 1));
    assert.equal(r.sameDetections, true);
    assert.ok(Math.abs((r.lr as number) - 0.001) < 1e-12);
    assert.deepEqual(r.mean, [0.485, 0.456, 0.406]);

    // Deep imports past "exports" are not part of the package.
    writeFileSync(join(dir, 'main.ts'), `import { SSDNetwork } from 'ssd-ts/dist/src/nn/ssd.js';\nconsole.log(SSDNetwork.name);\n`);
    const deep = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
    assert.notEqual(deep.status, 0, 'a deep import must not resolve');
    assert.match(deep.stdout + deep.stderr, /ssd-ts\/dist\/src\/nn\/ssd\.js/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
