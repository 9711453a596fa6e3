// The out-of-the-box demo (`ssd demo`, `npm run demo`): generate the shapes data set, train ssd-tiny on it for a
// bounded time, evaluate VOC07 mAP on held-out scenes, draw the detections on a few of them, and write a report.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { loadDataset } from '../data/dataset.js';
import { generateShapesDataset, type ShapesDatasetOptions } from '../data/synthetic.js';
import type { Dataset } from '../data/types.js';
import { annotateImage } from '../draw/index.js';
import { SSD } from '../nn/model.js';
import { buildNetwork, modelConfig } from '../nn/models/index.js';
import { evaluateModel } from '../train/evaluate.js';
import { readMetricsLog, type EvalRecord } from '../train/metrics-log.js';
import type { ProgressStream } from '../train/progress.js';
import { train } from '../train/trainer.js';
import { writeDemoReport } from './report.js';

/** Options of {@link runDemo}; the defaults are the settings the demo's figures (bench/RESULTS.md) were measured with. */
export interface DemoOptions {
  /** Output folder. Default 'runs/demo'. */
  out?: string;
  /** Training time budget in minutes. Default 10. */
  minutes?: number;
  /** Zoo model to train. Default 'ssd-tiny'. */
  model?: string;
  /** Input side in pixels. Default: the model's (192 for ssd-tiny). */
  inputSize?: number;
  /** Channel multiplier of the model. Default 1. */
  width?: number;
  /** Images per step. Default 8. */
  batch?: number;
  /** 'sgd' or 'adamw'. Default 'sgd'. */
  optimizer?: 'sgd' | 'adamw';
  /** Peak learning rate. Default 0.1 (SGD; biases 0.2), 0.003 (AdamW). */
  lr?: number;
  /** Matching IoU threshold. Default 0.4 (more positives per object than SSD's 0.5: faster learning). */
  matchThreshold?: number;
  /** Localisation loss (src/nn/loss.ts). Default 'smooth-l1-sum' (the paper's). */
  locLoss?: 'l1-mean' | 'smooth-l1-mean' | 'smooth-l1-sum';
  /** The SSD training augmentation (photometric, zoom out, crop, flip). Default false: at a budget of minutes
   *  the model underfits (training and test mAP agree), and plain scenes teach it faster. */
  augment?: boolean;
  /** Scenes generated (80% train, 10% val, 10% test). Default 3000. */
  images?: number;
  /** Seed of the data set, the weights and the data order. Default 0. */
  seed?: number;
  /** Test scenes drawn with their detections into the report. Default 8. */
  showImages?: number;
  /** ONNX Runtime threads. Default: all cores. */
  threads?: number;
  /** Loader worker threads. Default 1. */
  workers?: number;
  /** Where the progress bar goes. Default process.stderr; false: none. */
  progress?: ProgressStream | false;
  /** Where the summary lines go (the last ones say the mAP and where the report is). Default console.log. */
  log?: (line: string) => void;
}

/** What {@link runDemo} returns (also written to `<out>/metrics.json`, with the first four keys). */
export interface DemoResult {
  map: number;
  metric: 'voc07';
  ap_per_class: Record<string, number | null>;
  train_seconds: number;
  steps: number;
  images_seen: number;
  test_images: number;
  model: string;
  modelPath: string;
  reportPath: string;
  metricsPath: string;
  annotated: string[];
}

/** The scenes of the demo data set (the generator's defaults otherwise: 256 px, 1-6 shapes, 5 classes). */
function datasetOptions(images: number, seed: number): ShapesDatasetOptions {
  return { images, seed, splits: { train: 0.8, val: 0.1, test: 0.1 } };
}

/** Generates the data set unless `root` already holds the one these options make. */
async function ensureDataset(root: string, options: ShapesDatasetOptions, say: (s: string) => void): Promise<void> {
  const stamp = join(root, 'generated-with.json');
  const want = JSON.stringify(options);
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) {
    say(`data: ${root} (already generated)`);
    return;
  }
  const s = await generateShapesDataset(root, options);
  writeFileSync(stamp, want);
  say(`data: generated ${options.images} scenes, ${s.objects} objects (${s.classNames.join(', ')}) in ${s.seconds.toFixed(1)} s -> ${root}`);
}

/** Runs the whole demo; see the file header. Resolves with the figures also written to `metrics.json`. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const out = resolve(options.out ?? 'runs/demo');
  const minutes = options.minutes ?? 10;
  if (!(minutes > 0)) throw new Error(`demo: minutes must be > 0, got ${minutes}`);
  const seed = options.seed ?? 0;
  const images = options.images ?? 3000;
  const name = options.model ?? 'ssd-tiny';
  const batch = options.batch ?? 8;
  const optimizer = options.optimizer ?? 'sgd';
  const lr = options.lr ?? (optimizer === 'sgd' ? 0.1 : 0.003);
  const matchThreshold = options.matchThreshold ?? 0.4;
  const locLoss = options.locLoss ?? 'smooth-l1-sum';
  const augment = options.augment ?? false;
  const say = options.log ?? ((line: string): void => console.log(line));
  mkdirSync(out, { recursive: true });

  const dataRoot = join(out, 'shapes');
  await ensureDataset(dataRoot, datasetOptions(images, seed), say);
  const trainSplit = await loadDataset(dataRoot, { split: 'train' });
  const test = await loadDataset(dataRoot, { split: 'test' });

  const modelOptions = { ...(options.inputSize ? { inputSize: options.inputSize } : {}), ...(options.width ? { width: options.width } : {}) };
  const config = modelConfig(name, trainSplit.classNames, modelOptions);
  const network = buildNetwork(config);
  const count = network.trainableParameters().reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
  say(`model: ${name}, ${config.inputSize.width}x${config.inputSize.height} px, ${network.priorCount} priors, ${(count / 1e6).toFixed(2)} M parameters; training for ${minutes} min on ${trainSplit.samples.length} scenes`);

  // The trainer's own loop, with a time budget: the schedule (warm-up, then cosine to lr/100) runs over the time,
  // whatever the machine's speed. The run folder is the demo's: a second demo replaces the first's run.
  const trained = await train({
    dataset: trainSplit,
    out,
    existOk: true,
    report: false,
    model: name,
    ...modelOptions,
    minutes,
    batch,
    optimizer,
    lr,
    warmup: 50,
    weightDecay: optimizer === 'sgd' ? 5e-4 : 0.01,
    clipGradNorm: 10,
    matchThreshold,
    loss: { locLoss },
    augment,
    seed,
    calibrationImages: 512,
    threads: options.threads,
    workers: options.workers ?? 1,
    progress: options.progress,
  });
  const metricsPath = trained.metricsPath;
  say(`trained: ${trained.steps} steps, ${trained.images} images in ${trained.trainSeconds.toFixed(0)} s (${trained.imagesPerSecond.toFixed(1)} img/s), final loss ${trained.finalLoss.toFixed(3)}`);

  const model = await SSD.load(trained.lastCheckpoint, { threads: options.threads });

  const modelPath = join(out, 'model.safetensors');
  model.save(modelPath);
  let result: DemoResult;
  try {
    const { evaluation } = await evaluateModel(model, test, { metric: 'voc07', batch: 16, workers: options.workers });
    const ap: Record<string, number | null> = {};
    evaluation.classNames.forEach((n, i) => (ap[n] = evaluation.apPerClass[i] ?? null));
    // The evaluation goes into the metrics log as `ssd train` writes it, so the report shows it over the steps.
    const record: EvalRecord = { type: 'eval', step: trained.steps, epoch: 0, metric: 'voc07', map: evaluation.map ?? 0, ap_per_class: Object.fromEntries(Object.entries(ap).map(([k, v]) => [k, v ?? NaN])), time: new Date().toISOString() };
    appendFileSync(metricsPath, JSON.stringify(record) + '\n');
    const annotated = await drawSome(model, test, join(out, 'detections'), options.showImages ?? 8);
    const reportPath = join(out, 'report.html');
    writeDemoReport(reportPath, {
      title: `ssd-ts demo: ${name} on generated shapes`,
      records: readMetricsLog(metricsPath),
      evaluation,
      evaluationStep: trained.steps,
      facts: {
        model: `${name} (${config.inputSize.width} px, ${network.priorCount} priors, ${(count / 1e6).toFixed(2)} M parameters)`,
        data: `${trainSplit.samples.length} training scenes, ${test.samples.length} held-out test scenes (${trainSplit.classNames.join(', ')})`,
        'training time': `${trained.trainSeconds.toFixed(0)} s (${trained.steps} steps of ${batch}, ${trained.imagesPerSecond.toFixed(1)} images/s)`,
        training: `${optimizer === 'sgd' ? 'SGD, momentum 0.9, weight decay 5e-4' : 'AdamW'}, peak lr ${lr} (50-step warm-up, cosine over the time budget), matching IoU ${matchThreshold}, ${locLoss} box loss, augmentation ${augment ? 'on' : 'off'}`,
        'test mAP (VOC07, IoU 0.5)': (evaluation.map ?? 0).toFixed(4),
      },
      images: annotated.map((p) => relative(out, p)),
    });
    result = {
      map: evaluation.map ?? 0,
      metric: 'voc07',
      ap_per_class: ap,
      train_seconds: trained.trainSeconds,
      steps: trained.steps,
      images_seen: trained.images,
      test_images: test.samples.length,
      model: name,
      modelPath,
      reportPath,
      metricsPath,
      annotated,
    };
  } finally {
    await model.dispose();
  }
  const { map, metric, ap_per_class, train_seconds, ...rest } = result;
  writeFileSync(join(out, 'metrics.json'), JSON.stringify({ map, metric, ap_per_class, train_seconds, steps: rest.steps, images_seen: rest.images_seen, test_images: rest.test_images, model: rest.model }, null, 2) + '\n');
  say(`AP per class: ${Object.entries(ap_per_class).map(([k, v]) => `${k} ${v === null ? 'n/a' : v.toFixed(3)}`).join(', ')}`);
  say(`mAP (VOC07) on ${test.samples.length} held-out scenes: ${map.toFixed(4)}`);
  say(`report: ${result.reportPath}`);
  return result;
}

/** Draws the detections (score >= 0.3) of the first `n` test scenes into `dir`; returns the files written. */
async function drawSome(model: SSD, test: Dataset, dir: string, n: number): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (const s of test.samples.slice(0, n)) {
    const found = await model.detect(s.imagePath, { minScore: 0.3 });
    const { data } = await annotateImage(s.imagePath, found, { classNames: model.classNames, format: 'jpeg' });
    const file = join(dir, `${s.id}.jpg`);
    writeFileSync(file, data);
    files.push(file);
  }
  return files;
}
