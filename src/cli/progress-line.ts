// A progress bar for work over many items (`ssd detect` over a folder of images, or a video's frames): on a TTY one
// line redrawn in place, `detect 120/400 [######..............] 30% 4.1 img/s ETA 1m08s a.jpg`; elsewhere (a pipe, a
// CI log) a plain line at most every `plainIntervalMs`, plus the last (StatusLine). The count and the percentage
// never go down: a total that was an estimate (a video's frames, from its duration) grows when the count passes it,
// and `finish` makes it the count.
import { bar, formatDuration, StatusLine, type ProgressStream } from '../train/status-line.js';

export class ProgressLine {
  private done = 0;
  private readonly start = Date.now();
  private readonly line: StatusLine;
  private note = '';

  /** `total`: the items expected (an estimate is fine), or undefined when unknown (no bar, no ETA). */
  constructor(
    private readonly label: string,
    private total: number | undefined,
    stream: ProgressStream = process.stderr,
    private readonly unit = 'img',
    plainIntervalMs = 5_000,
  ) {
    this.line = new StatusLine(stream, plainIntervalMs);
  }

  /** Counts `n` items done; `note` (e.g. the last file) is shown after the figures. */
  tick(n = 1, note = ''): void {
    this.done += n;
    this.note = note;
    if (this.total !== undefined && this.done > this.total) this.total = this.done;
    this.show(this.total !== undefined && this.done >= this.total);
  }

  private show(final: boolean): void {
    const elapsed = (Date.now() - this.start) / 1000;
    const rate = elapsed > 0 ? this.done / elapsed : 0;
    const total = this.total;
    if (total === undefined) {
      const text = `${this.label} ${this.done} ${rate.toFixed(1)} ${this.unit}/s`;
      this.line.show({ tty: () => `${text} ${this.note}`, plain: () => text }, final);
      return;
    }
    const eta = rate > 0 ? (total - this.done) / rate : NaN;
    const pct = total > 0 ? Math.min(1, this.done / total) : 1;
    const figures = `${this.label} ${this.done}/${total}`;
    const tail = ` ${(pct * 100).toFixed(0)}% ${rate.toFixed(1)} ${this.unit}/s ETA ${formatDuration(eta)}`;
    this.line.show({ tty: () => `${figures} ${bar(pct, 20)}${tail} ${this.note}`, plain: () => figures + tail }, final);
  }

  /** Writes a line that stays (a warning); the bar is drawn again with the next tick. */
  log(line: string): void {
    this.line.log(line, false);
  }

  /**
   * Ends the bar's line. With `complete`, the count is the total (an estimate that was too high): a last line at
   * 100% is shown first, unless the count already reached the total.
   */
  finish(complete = false): void {
    if (complete && this.done > 0 && this.total !== this.done) {
      this.total = this.done;
      this.show(true);
    }
    this.line.finish();
  }
}
