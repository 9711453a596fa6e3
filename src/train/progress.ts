/**
 * Terminal progress for training: on a TTY one line redrawn in place
 * (`step 120/1000 [#####.....] 12% loss 4.213 (loc 1.02 conf 3.19) lr 1e-3 3.1 img/s ETA 4m38s`);
 * elsewhere (a pipe, a CI log) plain lines, at most one every `plainIntervalMs` plus the last (StatusLine).
 */
import { bar, formatDuration, StatusLine, type ProgressStream } from './status-line.js';

export { formatDuration, type ProgressStream };

/** What one progress update shows. */
export interface ProgressState {
  step: number;
  /** The run's steps, or undefined for a run with a time budget. */
  total?: number;
  /** The share of the run done (by steps or by time), 0..1. Default step / total. */
  fraction?: number;
  epoch: number;
  loss: number;
  locLoss: number;
  confLoss: number;
  lr: number;
  imagesPerSecond: number;
  /** Seconds left, or NaN when unknown. */
  etaSeconds: number;
}

function num(x: number, digits = 4): string {
  return Number.isFinite(x) ? x.toFixed(digits) : String(x);
}

/** The text of one progress line, without bar (plain) or with one of `barWidth` cells. */
export function formatProgress(p: ProgressState, barWidth = 0): string {
  const pct = Math.min(1, Math.max(0, p.fraction ?? (p.total !== undefined && p.total > 0 ? p.step / p.total : 0)));
  return (
    `step ${p.step}${p.total !== undefined ? `/${p.total}` : ''}${barWidth > 0 ? ` ${bar(pct, barWidth)}` : ''} ${(pct * 100).toFixed(0)}% ep ${p.epoch + 1}` +
    ` loss ${num(p.loss)} (loc ${num(p.locLoss, 3)} conf ${num(p.confLoss, 3)})` +
    ` lr ${p.lr.toExponential(2)} ${p.imagesPerSecond.toFixed(2)} img/s ETA ${formatDuration(p.etaSeconds)}`
  );
}

/** A progress display: `update` after each step, `log` for a line that stays (an evaluation), `done` at the end. */
export class Progress {
  private readonly line: StatusLine;

  constructor(stream: ProgressStream = process.stderr, plainIntervalMs = 10_000) {
    this.line = new StatusLine(stream, plainIntervalMs);
  }

  update(p: ProgressState): void {
    this.line.show(
      {
        // Without the bar when the line is too wide for the terminal.
        tty: (width) => {
          const full = formatProgress(p, 20);
          return full.length < width ? full : formatProgress(p, 0);
        },
        plain: () => formatProgress(p),
      },
      (p.fraction ?? (p.total !== undefined ? p.step / p.total : 0)) >= 1,
    );
  }

  /** Prints a line that stays above the bar. */
  log(line: string): void {
    this.line.log(line, true);
  }

  /** Ends the bar's line. */
  done(): void {
    this.line.finish();
  }
}
