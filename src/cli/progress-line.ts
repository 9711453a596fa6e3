// A progress bar for work over many items (`ssd detect` over a folder of images): on a TTY one line redrawn in
// place, `detect 120/400 [######..............] 30% 4.1 img/s ETA 1m08s a.jpg`; elsewhere (a pipe, a CI log)
// a plain line at most every `plainIntervalMs`, plus the last (StatusLine).
import { bar, formatDuration, StatusLine, type ProgressStream } from '../train/status-line.js';

export class ProgressLine {
  private done = 0;
  private readonly start = Date.now();
  private readonly line: StatusLine;

  constructor(
    private readonly label: string,
    private readonly total: number,
    stream: ProgressStream = process.stderr,
    private readonly unit = 'img',
    plainIntervalMs = 5_000,
  ) {
    this.line = new StatusLine(stream, plainIntervalMs);
  }

  /** Counts `n` items done; `note` (e.g. the last file) is shown after the figures. */
  tick(n = 1, note = ''): void {
    this.done += n;
    const elapsed = (Date.now() - this.start) / 1000;
    const rate = elapsed > 0 ? this.done / elapsed : 0;
    const eta = rate > 0 ? (this.total - this.done) / rate : NaN;
    const pct = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    const figures = `${this.label} ${this.done}/${this.total}`;
    const tail = ` ${(pct * 100).toFixed(0)}% ${rate.toFixed(1)} ${this.unit}/s ETA ${formatDuration(eta)}`;
    this.line.show({ tty: () => `${figures} ${bar(pct, 20)}${tail} ${note}`, plain: () => figures + tail }, this.done >= this.total);
  }

  /** Writes a line that stays (a warning); the bar is drawn again with the next tick. */
  log(line: string): void {
    this.line.log(line, false);
  }

  /** Ends the bar's line (TTY). */
  finish(): void {
    this.line.finish();
  }
}
