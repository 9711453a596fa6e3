// SSD300 side by side with PyTorch, in one run: the PyTorch anchor (../shared/bench/pytorch_ssd300_bench.py, run
// with /usr/bin/python3; needs `apt-get install -y python3-torch`) and `ssd bench --model ssd300 --json`, one after
// the other (never together: they would share the cores), each in its own process so peak memory is its own.
// Prints one JSON object: both results, the ratios ours / PyTorch (below 1 is faster or smaller), and the step's
// arithmetic against the fastest matrix product ONNX Runtime runs here (bench/arithmetic-rate.ts).
// Usage: node --import tsx bench/ssd300.bench.ts [--batch 8] [--threads 2] [--repeat 1]
// Env: SSD_PYTORCH_BENCH (path of the anchor script), SSD_PYTHON (default /usr/bin/python3).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { modelEntry } from '../src/nn/models/index.js';
import { modelStats } from '../src/nn/stats.js';
import { arithmeticRate, layerwiseBound, sgemmPeakGflops } from './arithmetic-rate.js';
import { countFlag } from './count-flag.js';

const here = fileURLToPath(import.meta.url);
const root = join(dirname(here), '..');
const { values } = parseArgs({ options: { batch: { type: 'string' }, threads: { type: 'string' }, repeat: { type: 'string' }, ours: { type: 'boolean' } }, strict: true });
const batch = values.batch ?? '8';
const threads = values.threads ?? String(availableParallelism());
const repeat = countFlag('repeat', values.repeat, 1);

if (values.ours) {
  // Child process: run the verb itself.
  const { command } = await import('../src/cli/bench.js');
  process.exitCode = await command.run(['--model', 'ssd300', '--batch', batch, '--threads', threads, '--json']);
} else {
  const lastJson = (stdout: string, what: string): Record<string, unknown> => {
    const line = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'));
    if (!line) throw new Error(`${what} printed no JSON:\n${stdout}`);
    return JSON.parse(line) as Record<string, unknown>;
  };
  const loadBefore = loadavg()[0];
  const python = process.env.SSD_PYTHON ?? '/usr/bin/python3';
  const anchor = process.env.SSD_PYTORCH_BENCH ?? join(root, '..', 'shared', 'bench', 'pytorch_ssd300_bench.py');
  const runPytorch = (): Record<string, unknown> | { error: string } => {
    if (!existsSync(anchor)) return { error: `no PyTorch anchor at ${anchor} (set SSD_PYTORCH_BENCH)` };
    const r = spawnSync(python, [anchor, batch, threads], { encoding: 'utf8', maxBuffer: 1 << 24 });
    return r.status === 0 ? lastJson(r.stdout, 'the PyTorch anchor') : { error: `${python} ${anchor} failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-2).join(' ')}` };
  };
  const runOurs = (): Record<string, unknown> => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', here, '--ours', '--batch', batch, '--threads', threads], { encoding: 'utf8', cwd: root, maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`ssd bench failed (exit ${r.status}):\n${r.stderr}`);
    return lastJson(r.stdout, 'ssd bench');
  };
  // --repeat N alternates the two N times and keeps each side's best value per figure: a load spike on a shared
  // machine then hurts neither side.
  const best = (a: Record<string, unknown> | undefined, b: Record<string, unknown>): Record<string, unknown> => {
    if (!a || 'error' in a) return b;
    const out = { ...a };
    for (const k of ['inference_s_per_image', 'train_step_s', 'peak_rss_mb']) if (typeof b[k] === 'number' && (b[k] as number) < (out[k] as number)) out[k] = b[k];
    return out;
  };
  let pytorch: Record<string, unknown> | { error: string } | undefined;
  let ours: Record<string, unknown> | undefined;
  for (let i = 0; i < repeat; i++) {
    const p = runPytorch();
    pytorch = 'error' in p ? p : best(pytorch as Record<string, unknown> | undefined, p);
    ours = best(ours, runOurs());
  }
  if (!pytorch || !ours) throw new Error('no runs');
  const ratio = (k: string): number | null => (!pytorch || 'error' in pytorch || typeof pytorch[k] !== 'number' ? null : (ours[k] as number) / (pytorch[k] as number));
  const pytorchStep = !('error' in pytorch) && typeof pytorch.train_step_s === 'number' ? pytorch.train_step_s : null;
  const network = modelEntry('ssd300').build(21);
  const peak = await sgemmPeakGflops(Number(threads));
  const bound = await layerwiseBound(network, Number(batch), Number(threads), peak.gflops);
  const arithmetic = arithmeticRate(modelStats(network).trainGmac, Number(batch), ours.train_step_s as number, pytorchStep, peak, bound);
  console.log(
    JSON.stringify({
      bench: 'ssd300',
      batch: Number(batch),
      threads: Number(threads),
      repeat,
      // Other work on the machine skews both sides: the 1-minute load average before and after the runs.
      load_average: [loadBefore, loadavg()[0]],
      ours,
      pytorch,
      ratio: {
        inference_s_per_image: ratio('inference_s_per_image'),
        train_step_s: ratio('train_step_s'),
        peak_rss_mb: ratio('peak_rss_mb'),
      },
      arithmetic,
    }),
  );
}
