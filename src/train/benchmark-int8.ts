// Timing int8 against float32 for one network in one run (`ssd bench --int8`): a model of the family with
// random weights, quantized with a few random calibration images (speed does not depend on the values), both
// files run at batch 1 in alternating rounds (the median round of each), and the int8 file's optimised graph
// read back to show what ONNX Runtime fused (QLinearConv where the Q/DQ pairs went into the convolution).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Random } from '../data/random.js';
import { decodeModel } from '../graph/onnx-edit.js';
import { InferenceRunner, type RuntimeOptions } from '../graph/runtime.js';
import { exportOnnx } from '../nn/export.js';
import { SSD } from '../nn/model.js';
import { modelConfig } from '../nn/models/index.js';
import { quantizeModel } from '../nn/quantize/index.js';

/** Options of {@link benchmarkInt8}. */
export interface Int8BenchmarkOptions {
  /** Architecture, a name of the model family. */
  model: string;
  /** ONNX Runtime intra-op threads. Default: all cores. */
  threads?: number;
  /** Alternating timing rounds (float32, then int8); each figure is the median round. Default 9. */
  rounds?: number;
  /** Each round runs a model for at least this long (and at least twice). Default 0.4 s. */
  roundSeconds?: number;
  /** Random calibration images. Default 4. */
  calibrationImages?: number;
  /** Layers to leave float32 (QuantizeOptions.exclude). Default none. */
  exclude?: readonly string[];
}

/** What {@link benchmarkInt8} measured; times in seconds per image at batch 1. */
export interface Int8BenchmarkResult {
  model: string;
  threads: number | null;
  onnxruntime: string;
  inference_s_per_image: number;
  fp32_inference_s_per_image: number;
  /** inference_s_per_image / fp32_inference_s_per_image. */
  int8_over_fp32: number;
  /** Every round's time, int8 and float32. */
  rounds_s: { int8: number[]; fp32: number[] };
  int8_file_bytes: number;
  fp32_file_bytes: number;
  size_ratio: number;
  int8_layers: number;
  float32_layers: string[];
  /** Node counts by op type of ONNX Runtime's optimised int8 graph (QLinearConv: fused int8 convolutions). */
  optimized_ops: Record<string, number>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Times a model of the family in float32 and in int8, side by side. */
export async function benchmarkInt8(options: Int8BenchmarkOptions): Promise<Int8BenchmarkResult> {
  const rounds = options.rounds ?? 9;
  const roundSeconds = options.roundSeconds ?? 0.4;
  const runtime: RuntimeOptions = options.threads === undefined ? {} : { threads: options.threads };
  const model = SSD.create(modelConfig(options.model), { seed: 0 });
  const { width, height } = model.config.inputSize;
  const rng = new Random(1);
  const image = () => Float32Array.from({ length: 3 * width * height }, () => 2 * rng.next() - 1);
  const calibration = Array.from({ length: options.calibrationImages ?? 4 }, image);
  const q = await quantizeModel(model, { count: calibration.length, get: async (i) => calibration[i]! }, { ...runtime, exclude: options.exclude ?? [] });
  const fp32Bytes = exportOnnx(model);
  const signature = { name: options.model, inputs: [{ name: 'images', dtype: 'float32' as const, shape: ['N', 3, height, width] }] };
  const dir = mkdtempSync(join(tmpdir(), 'ssd-int8-bench-'));
  let optimized: Record<string, number> = {};
  const fp32 = await InferenceRunner.fromBytes(fp32Bytes, signature, runtime);
  const int8 = await InferenceRunner.fromBytes(q.bytes, signature, { ...runtime, optimizedModelFile: join(dir, 'int8.optimized.onnx') });
  try {
    for (const n of decodeModel(readFileSync(join(dir, 'int8.optimized.onnx')), 'optimized').graph?.node ?? []) optimized[n.opType!] = (optimized[n.opType!] ?? 0) + 1;
    optimized = Object.fromEntries(Object.entries(optimized).sort((a, b) => b[1] - a[1]));
    const feed = { images: { data: image(), dims: [1, 3, height, width], dtype: 'float32' as const } };
    // Rounds of a fixed length rather than a fixed count: a few milliseconds per run (ssd-tiny) would otherwise
    // be at the mercy of one scheduling hiccup.
    const time = async (r: InferenceRunner): Promise<number> => {
      const t0 = process.hrtime.bigint();
      let runs = 0, elapsed = 0;
      do {
        await r.run(feed);
        runs++;
        elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
      } while (runs < 2 || elapsed < roundSeconds);
      return elapsed / runs;
    };
    for (let i = 0; i < 2; i++) {
      await fp32.run(feed);
      await int8.run(feed);
    }
    const times = { int8: [] as number[], fp32: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      times.fp32.push(await time(fp32));
      times.int8.push(await time(int8));
    }
    const ortVersion = (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;
    const [i8, f32] = [median(times.int8), median(times.fp32)];
    return {
      model: options.model,
      threads: options.threads ?? null,
      onnxruntime: ortVersion,
      inference_s_per_image: i8,
      fp32_inference_s_per_image: f32,
      int8_over_fp32: i8 / f32,
      rounds_s: times,
      int8_file_bytes: q.bytes.byteLength,
      fp32_file_bytes: fp32Bytes.byteLength,
      size_ratio: q.bytes.byteLength / fp32Bytes.byteLength,
      int8_layers: q.layers.filter((l) => l.int8).length,
      float32_layers: q.layers.filter((l) => !l.int8).map((l) => l.name),
      optimized_ops: optimized,
    };
  } finally {
    await fp32.release();
    await int8.release();
    rmSync(dir, { recursive: true, force: true });
  }
}
