/**
 * The run's metrics log: `metrics.jsonl`, one JSON object per line, one line per training step
 * (`type: "step"`) and one per evaluation (`type: "eval"`).
 *
 * On resume the log is cut back to the checkpoint's step, so that a resumed run's log reads exactly
 * as an uninterrupted run's would.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';

/** One training step. `step` is 1-based: the number of optimisation steps done after this one. */
export interface StepRecord {
  type: 'step';
  step: number;
  /** 0-based epoch the step's batch came from. */
  epoch: number;
  loss: number;
  loc_loss: number;
  conf_loss: number;
  /** The base learning rate used (biases use twice this). */
  lr: number;
  /** Training throughput over this step (images / wall-clock second, data waiting included). */
  images_per_s: number;
  /** Wall-clock time of the record, ISO 8601. */
  time: string;
}

/** One evaluation on the validation split. */
export interface EvalRecord {
  type: 'eval';
  step: number;
  epoch: number;
  metric: string;
  map: number;
  ap_per_class: Record<string, number>;
  time: string;
}

/** A training image left out because it cannot be decoded (with skipBad), logged with the step it was found in. */
export interface SkipRecord {
  type: 'skip';
  /** The step whose batch it would have been in (1-based, as step records). */
  step: number;
  epoch: number;
  file: string;
  /** Why, naming the file. */
  message: string;
  time: string;
}

export type MetricsRecord = StepRecord | EvalRecord | SkipRecord;

/** Reads a metrics log; a torn last line (a crash mid-append) is ignored, any other bad line is an error naming it. */
export function readMetricsLog(path: string): MetricsRecord[] {
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, 'utf8').split('\n');
  const out: MetricsRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as MetricsRecord);
    } catch {
      if (i >= lines.length - 2) break; // the last line, cut short by a crash
      throw new Error(`${path}:${i + 1}: not a JSON object: ${line.slice(0, 80)}`);
    }
  }
  return out;
}

/** Appends records to a JSONL file, one synchronous write per record (a crash loses at most the line being written). */
export class MetricsLog {
  private fd: number;

  /**
   * Opens `path` for appending. With `resumeFromStep` the existing log is first rewritten (atomically)
   * to hold only the records of steps <= resumeFromStep; without it an existing log is replaced.
   */
  constructor(readonly path: string, opts: { resumeFromStep?: number } = {}) {
    if (opts.resumeFromStep !== undefined) {
      const keep = readMetricsLog(path).filter((r) => r.step <= opts.resumeFromStep!);
      const tmp = `${path}.tmp`;
      const fd = openSync(tmp, 'w');
      writeSync(fd, keep.map((r) => JSON.stringify(r) + '\n').join(''));
      fsyncSync(fd);
      closeSync(fd);
      renameSync(tmp, path);
      this.fd = openSync(path, 'a');
    } else {
      this.fd = openSync(path, 'w');
    }
  }

  /** Appends one record as one line. */
  append(record: MetricsRecord): void {
    writeSync(this.fd, JSON.stringify(record) + '\n');
  }

  /** Flushes to disk and closes the file. */
  close(): void {
    if (this.fd < 0) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
  }
}
