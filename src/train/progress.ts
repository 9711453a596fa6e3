/**
 * Terminal progress for training: on a TTY one line redrawn in place
 * (`step 120/1000 [#####.....] 12% loss 4.213 (loc 1.02 conf 3.19) lr 1e-3 3.1 img/s ETA 4m38s`);
 * elsewhere (a pipe, a CI log) plain lines, at most one every `plainIntervalMs` plus the last.
 */

/** What one progress update shows. */
export interface ProgressState {
  step: number;
  total: number;
  epoch: number;
  loss: number;
  locLoss: number;
  confLoss: number;
  lr: number;
  imagesPerSecond: number;
  /** Seconds left, or NaN when unknown. */
  etaSeconds: number;
}

/** The stream progress writes to: process.stderr or anything with `write` (and optionally `isTTY`, `columns`). */
export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Formats seconds as `1h02m`, `4m38s` or `12s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

function num(x: number, digits = 4): string {
  return Number.isFinite(x) ? x.toFixed(digits) : String(x);
}

/** The text of one progress line, without bar (plain) or with one of `barWidth` cells. */
export function formatProgress(p: ProgressState, barWidth = 0): string {
  const pct = p.total > 0 ? Math.min(1, p.step / p.total) : 0;
  const bar = barWidth > 0 ? ` [${'#'.repeat(Math.round(pct * barWidth)).padEnd(barWidth, '.')}]` : '';
  return (
    `step ${p.step}/${p.total}${bar} ${(pct * 100).toFixed(0)}% ep ${p.epoch + 1}` +
    ` loss ${num(p.loss)} (loc ${num(p.locLoss, 3)} conf ${num(p.confLoss, 3)})` +
    ` lr ${p.lr.toExponential(2)} ${p.imagesPerSecond.toFixed(2)} img/s ETA ${formatDuration(p.etaSeconds)}`
  );
}

/** A progress display: `update` after each step, `log` for a line that stays (an evaluation), `done` at the end. */
export class Progress {
  private lastPlain = -Infinity;
  private drawn = false;
  private last: ProgressState | undefined;

  constructor(
    private readonly stream: ProgressStream = process.stderr,
    private readonly plainIntervalMs = 10_000,
  ) {}

  update(p: ProgressState): void {
    this.last = p;
    if (this.stream.isTTY) {
      const width = this.stream.columns ?? 100;
      let line = formatProgress(p, 20);
      if (line.length >= width) line = formatProgress(p, 0).slice(0, width - 1);
      this.stream.write(`\r\x1b[2K${line}`);
      this.drawn = true;
      return;
    }
    const now = Date.now();
    if (now - this.lastPlain >= this.plainIntervalMs || p.step === p.total) {
      this.lastPlain = now;
      this.stream.write(formatProgress(p) + '\n');
    }
  }

  /** Prints a line that stays above the bar. */
  log(line: string): void {
    if (this.drawn) this.stream.write('\r\x1b[2K');
    this.stream.write(line + '\n');
    if (this.drawn && this.last) this.update(this.last);
  }

  /** Ends the bar's line. */
  done(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}
