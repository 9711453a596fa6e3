/**
 * Training checkpoints: one safetensors file holding everything a run needs to continue exactly:
 *
 * - the parameters, under their graph names (as a model file stores them);
 * - the optimizer state (momentum buffers), under `optimizer/<key>`;
 * - metadata `ssd.config`: the model config (as a model file has it, so a checkpoint is also a model file);
 * - metadata `ssd.train_state`: the step, the loader position (epoch, next batch), the seed and the best mAP;
 * - metadata `ssd.train_config`: the run's options, so `--resume` rebuilds the same run.
 *
 * Writes are atomic (temporary file, fsync, rename, fsync of the folder): a crash at any moment
 * leaves either the previous checkpoint or the new one, never a torn file.
 */
import { closeSync, fsyncSync, openSync, readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../io/safetensors.js';

/** Where a run stands: enough to pick up the next step exactly. */
export interface TrainState {
  /** Optimisation steps done. */
  step: number;
  /** The epoch of the next batch (0-based). */
  epoch: number;
  /** The next batch's position in that epoch (0-based). */
  batchInEpoch: number;
  /** The run's seed (the loader's order and augmentation derive from it, the epoch and the sample index). */
  seed: number;
  /** The best evaluation so far, if any. */
  best?: { metric: string; map: number; step: number; epoch: number };
  /** Training seconds so far (what a time budget counts; evaluation and checkpoints apart). */
  seconds?: number;
  /** Ids of the training samples left out because their images cannot be decoded (skipBad). */
  skippedIds?: string[];
}

/** A named float32 tensor. */
export interface NamedTensor {
  shape: readonly number[];
  data: Float32Array;
}

/** What a checkpoint holds. */
export interface Checkpoint {
  parameters: Map<string, NamedTensor>;
  /** Optimizer buffers (momentum), keyed as the training session names them. */
  optimizer: Map<string, NamedTensor>;
  state: TrainState;
  /** The model config (stored as `ssd.config`, the model file's key). */
  modelConfig: unknown;
  /** The run's options (JSON-serialisable). */
  trainConfig: Record<string, unknown>;
}

const OPTIMIZER_PREFIX = 'optimizer/';

/** Flushes a folder's entry table, so that a rename inside it survives a power cut. */
function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some platforms (Windows) cannot open a folder; the rename is still atomic there.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Writes `ckpt` to `path` atomically. The parameters and optimizer buffers are stored as F32 in
 * their own shapes.
 */
export function saveCheckpoint(path: string, ckpt: Checkpoint): void {
  const tensors = new Map<string, TensorToWrite>();
  for (const [name, t] of ckpt.parameters) {
    if (name.startsWith(OPTIMIZER_PREFIX)) throw new Error(`checkpoint: parameter name '${name}' collides with the optimizer prefix`);
    tensors.set(name, { shape: t.shape, data: t.data });
  }
  for (const [name, t] of ckpt.optimizer) tensors.set(OPTIMIZER_PREFIX + name, { shape: t.shape, data: t.data });
  const metadata: Record<string, string> = {
    'ssd.config': JSON.stringify(ckpt.modelConfig),
    'ssd.train_state': JSON.stringify(ckpt.state),
    'ssd.train_config': JSON.stringify(ckpt.trainConfig),
  };
  writeSafetensors(path, tensors, metadata);
  fsyncDir(dirname(path));
}

/** Reads a checkpoint written by {@link saveCheckpoint}; errors name the file and what is missing. */
export function loadCheckpoint(path: string): Checkpoint {
  const file = readSafetensors(path);
  const need = (key: string): unknown => {
    const text = file.metadata[key];
    if (text === undefined) throw new Error(`${path}: not a training checkpoint (metadata '${key}' is missing)`);
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw new Error(`${path}: metadata '${key}' is not valid JSON: ${(e as Error).message}`);
    }
  };
  const state = need('ssd.train_state') as TrainState;
  for (const key of ['step', 'epoch', 'batchInEpoch', 'seed'] as const) {
    if (!Number.isInteger(state[key]) || state[key] < 0) {
      throw new Error(`${path}: ssd.train_state.${key} must be a whole number >= 0, got ${JSON.stringify(state[key])}`);
    }
  }
  const parameters = new Map<string, NamedTensor>();
  const optimizer = new Map<string, NamedTensor>();
  for (const [name, t] of file.tensors) {
    if (t.dtype !== 'F32') throw new Error(`${path}: tensor '${name}' is ${t.dtype}, checkpoints hold F32`);
    const entry = { shape: t.shape, data: t.data };
    if (name.startsWith(OPTIMIZER_PREFIX)) optimizer.set(name.slice(OPTIMIZER_PREFIX.length), entry);
    else parameters.set(name, entry);
  }
  return {
    parameters,
    optimizer,
    state,
    modelConfig: need('ssd.config'),
    trainConfig: need('ssd.train_config') as Record<string, unknown>,
  };
}

/**
 * Removes temporary files that a killed writer left beside `path` (`.<name>.<pid>.<hex>.tmp`).
 * Returns how many were removed.
 */
export function removeStaleTemporaries(path: string): number {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.`;
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    if (name.startsWith(prefix) && name.endsWith('.tmp')) {
      rmSync(join(dir, name), { force: true });
      removed++;
    }
  }
  return removed;
}
