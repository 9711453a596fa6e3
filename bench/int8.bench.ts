// int8 against float32 and PyTorch, side by side in one run: for each model, our float32 and int8 inference at
// batch 1 in alternating rounds (benchmarkInt8: the model quantized as `ssd quantize` does it, random weights and
// calibration images: speed does not depend on the values), then PyTorch's float32 (bench/int8_pytorch.py:
// the twins of ssd-tiny and SSDLite-MobileNetV2, torchvision's ssd300_vgg16), never two at once. Prints one JSON
// object with the ratios and whether the targets hold (SSD300 int8 <= 0.5x our float32 and <= 0.25x PyTorch's),
// and a markdown table on stderr.
// Usage: node --import tsx bench/int8.bench.ts [--models ssd300,ssdlite320-mobilenetv2,ssd-tiny] [--threads 2] [--exclude kind:depthwise]
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchmarkInt8, type Int8BenchmarkResult } from '../src/train/benchmark-int8.js';

const { values } = parseArgs({ options: { models: { type: 'string' }, threads: { type: 'string' }, exclude: { type: 'string' } }, strict: true });
const models = (values.models ?? 'ssd300,ssdlite320-mobilenetv2,ssd-tiny').split(',');
const threads = Number(values.threads ?? 2);
const python = process.env.SSD_PYTHON ?? '/usr/bin/python3';
const script = join(dirname(fileURLToPath(import.meta.url)), 'int8_pytorch.py');

interface TorchTiming {
  inference_s_per_image: number;
  torch: string;
}

function torchInference(model: string): TorchTiming | { error: string } {
  const args = [script, model, '--threads', String(threads)];
  const r = spawnSync(python, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  const line = r.stdout?.trim().split('\n').pop();
  return r.status === 0 && line ? (JSON.parse(line) as TorchTiming) : { error: `${python} ${args.join(' ')} failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-2).join(' ')}` };
}

const results: Array<Int8BenchmarkResult & { pytorch_fp32_inference_s_per_image: number | null; int8_over_pytorch: number | null; pytorch_error?: string }> = [];
for (const model of models) {
  const ours = await benchmarkInt8({ model, threads, exclude: values.exclude === undefined ? [] : values.exclude.split(',') });
  const torch = torchInference(model);
  const t = 'error' in torch ? null : torch.inference_s_per_image;
  results.push({ ...ours, pytorch_fp32_inference_s_per_image: t, int8_over_pytorch: t === null ? null : ours.inference_s_per_image / t, ...('error' in torch ? { pytorch_error: torch.error } : {}) });
}
const ssd300 = results.find((r) => r.model === 'ssd300');
const out = {
  date: new Date().toISOString(),
  threads,
  load_average: loadavg(),
  results,
  targets: ssd300
    ? { ssd300_int8_over_fp32: ssd300.int8_over_fp32, ssd300_int8_over_fp32_ok: ssd300.int8_over_fp32 <= 0.5, ssd300_int8_over_pytorch: ssd300.int8_over_pytorch, ssd300_int8_over_pytorch_ok: ssd300.int8_over_pytorch !== null && ssd300.int8_over_pytorch <= 0.25 }
    : undefined,
};
console.log(JSON.stringify(out, null, 2));
const ms = (s: number | null) => (s === null ? '-' : (s * 1000).toFixed(1));
console.error(
  [
    '| model | int8 ms | our float32 ms | PyTorch float32 ms | int8 / our float32 | int8 / PyTorch | int8 file / float32 file | float32 layers |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...results.map(
      (r) =>
        `| ${r.model} | ${ms(r.inference_s_per_image)} | ${ms(r.fp32_inference_s_per_image)} | ${ms(r.pytorch_fp32_inference_s_per_image)} | ${r.int8_over_fp32.toFixed(2)} | ${r.int8_over_pytorch === null ? '-' : r.int8_over_pytorch.toFixed(2)} | ${r.size_ratio.toFixed(2)} | ${r.float32_layers.length ? r.float32_layers.join(', ') : 'none'} |`,
    ),
  ].join('\n'),
);
