// A progress bar for work over many items (`ssd detect` over a folder of images): on a TTY one line redrawn in
// place, `detect 120/400 [######..............] 30% 4.1 img/s ETA 1m08s a.jpg`; elsewhere (a pipe, a CI log)
// a plain line at most every `plainIntervalMs`, plus the last.
import { formatDuration, type ProgressStream } from '../train/progress.js';

export class ProgressLine {
  private done = 0;
  private readonly start = Date.now();
  private lastPlain = -Infinity;
  private drawn = false;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: ProgressStream = process.stderr,
    private readonly unit = 'img',
    private readonly plainIntervalMs = 5_000,
  ) {}

  /** Counts `n` items done; `note` (e.g. the last file) is shown after the figures. */
  tick(n = 1, note = ''): void {
    this.done += n;
    const elapsed = (Date.now() - this.start) / 1000;
    const rate = elapsed > 0 ? this.done / elapsed : 0;
    const eta = rate > 0 ? (this.total - this.done) / rate : NaN;
    const pct = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    const figures = `${this.done}/${this.total}`;
    const tail = ` ${(pct * 100).toFixed(0)}% ${rate.toFixed(1)} ${this.unit}/s ETA ${formatDuration(eta)}`;
    if (this.stream.isTTY) {
      const bar = ` [${'#'.repeat(Math.round(pct * 20)).padEnd(20, '.')}]`;
      const width = this.stream.columns ?? 100;
      let line = `${this.label} ${figures}${bar}${tail} ${note}`;
      if (line.length >= width) line = line.slice(0, width - 1);
      this.stream.write(`\r\x1b[2K${line}`);
      this.drawn = true;
      return;
    }
    const now = Date.now();
    if (now - this.lastPlain >= this.plainIntervalMs || this.done >= this.total) {
      this.lastPlain = now;
      this.stream.write(`${this.label} ${figures}${tail}\n`);
    }
  }

  /** Writes a line that stays (a warning) without breaking the bar. */
  log(line: string): void {
    if (this.drawn) this.stream.write('\r\x1b[2K');
    this.stream.write(line + '\n');
    this.drawn = false;
  }

  /** Ends the bar's line (TTY). */
  finish(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}
