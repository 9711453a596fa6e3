// `ssd bench`: how fast is a model of the family on this machine? Inference per image at batch 1, one training step
// at a batch, peak memory. Only parses arguments and calls benchmarkModel.
import type { Command } from './command.js';
import { UsageError } from './command.js';
import { booleanFlag, intFlag, parseVerbArgs, stringFlag, type FlagSpec } from './args.js';
import { benchmarkModel, type BenchmarkResult } from '../train/benchmark.js';
import { benchmarkInt8, type Int8BenchmarkResult } from '../train/benchmark-int8.js';
import { MODELS } from '../nn/models/index.js';

const models = [...MODELS.keys()].join(', ');

const flags: FlagSpec = {
  model: { type: 'string' },
  batch: { type: 'string' },
  threads: { type: 'string' },
  steps: { type: 'string' },
  json: { type: 'boolean' },
  int8: { type: 'boolean' },
  exclude: { type: 'string', multiple: true },
};

const help = `usage: ssd bench [--model ssd300] [--batch 8] [--threads N] [--steps 3] [--json]
       ssd bench --int8 [--model ssd300] [--threads N] [--exclude <layers>] [--json]

Times a model with random weights and inputs on ONNX Runtime:
  inference_s_per_image  forward pass at batch 1 (mean of 5 runs after a warm-up)
  train_step_s           one SGD training step (forward, MultiBox loss, backward, update) at --batch,
                         the fastest of the steps after the first (--steps in all, at least 2)
  train_images_per_s     --batch / train_step_s
  peak_rss_mb            peak resident memory of the process

options:
  --model NAME     architecture (models below)                    default ssd300
  --batch N        training batch size                            default 8
  --threads N      ONNX Runtime intra-op threads                  default: all cores
  --steps N        training steps to run (the first is warm-up)   default 3
  --json           print one JSON object instead of a table
  --int8           time int8 inference against float32 instead, batch 1, same network, alternating rounds
                   (the model quantized as ssd quantize does, with random calibration images):
                   inference_s_per_image (int8), fp32_inference_s_per_image, int8_over_fp32, file sizes,
                   the layers left float32 and the op types of ONNX Runtime's optimised int8 graph
  --exclude <l>    with --int8: layers to leave float32, as ssd quantize --exclude takes them

models: ${models}

examples
  ssd bench --model ssd-tiny --batch 16
  ssd bench --model ssdlite320-mobilenetv2 --threads 2 --json
  ssd bench --model ssd300 --int8 --threads 2 --json`;

export const command: Command = {
  name: 'bench',
  summary: 'time inference and a training step of a model on this machine',
  help,
  flags,
  async run(argv: string[]): Promise<number> {
    const args = parseVerbArgs('bench', argv, flags);
    if (args.positionals.length) throw new UsageError(`ssd bench: unexpected argument '${args.positionals[0]}'`);
    const model = stringFlag(args, 'model') ?? 'ssd300';
    if (!MODELS.has(model)) throw new UsageError(`ssd bench: --model '${model}' is not known; known: ${models}`);
    const batch = intFlag('bench', 'batch', stringFlag(args, 'batch'), 8, 1, 1024);
    const threadsFlag = stringFlag(args, 'threads');
    const threads = threadsFlag === undefined ? undefined : intFlag('bench', 'threads', threadsFlag, 1, 1, 1024);
    if (booleanFlag(args, 'int8')) {
      const exclude = (args.values.exclude as string[] | undefined ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
      const r = await benchmarkInt8({ model, threads, exclude });
      console.log(booleanFlag(args, 'json') ? JSON.stringify(r) : int8Table(r));
      return 0;
    }
    if (args.values.exclude !== undefined) throw new UsageError('ssd bench: --exclude goes with --int8');
    const steps = intFlag('bench', 'steps', stringFlag(args, 'steps'), 3, 2, 1000);
    const result = await benchmarkModel({ model, batch, threads, steps });
    if (booleanFlag(args, 'json')) console.log(JSON.stringify(result));
    else console.log(table(result));
    return 0;
  },
};

function table(r: BenchmarkResult): string {
  return [
    `model ${r.model}, ${r.parameters.toLocaleString('en')} parameters, ${r.threads ?? 'all'} threads, onnxruntime ${r.onnxruntime}`,
    `inference            ${(r.inference_s_per_image * 1000).toFixed(0)} ms per image (batch 1)`,
    `training step        ${r.train_step_s.toFixed(3)} s at batch ${r.batch} (${r.train_images_per_s.toFixed(1)} images/s)`,
    `session setup        ${r.inference_setup_s.toFixed(1)} s inference, ${r.train_setup_s.toFixed(1)} s training`,
    `peak memory          ${r.peak_rss_mb.toFixed(0)} MB`,
  ].join('\n');
}

function int8Table(r: Int8BenchmarkResult): string {
  const ops = Object.entries(r.optimized_ops).map(([k, v]) => `${k} ${v}`).join(', ');
  return [
    `model ${r.model}, ${r.threads ?? 'all'} threads, onnxruntime ${r.onnxruntime}, batch 1`,
    `int8 inference       ${(r.inference_s_per_image * 1000).toFixed(1)} ms per image`,
    `float32 inference    ${(r.fp32_inference_s_per_image * 1000).toFixed(1)} ms per image (int8 ${r.int8_over_fp32.toFixed(2)}x)`,
    `file size            ${(r.int8_file_bytes / 2 ** 20).toFixed(2)} MiB int8, ${(r.fp32_file_bytes / 2 ** 20).toFixed(2)} MiB float32 (${r.size_ratio.toFixed(2)}x)`,
    `layers               ${r.int8_layers} int8, float32: ${r.float32_layers.join(', ') || 'none'}`,
    `optimised int8 graph ${ops}`,
  ].join('\n');
}
