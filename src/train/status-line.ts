// One status line on a terminal, the mechanism under the training progress and `ssd detect`'s bar: on a TTY
// the line is redrawn in place; elsewhere (a pipe, a CI log) plain lines are written, at most one every
// `plainIntervalMs` plus a final one, so logs stay readable.

/** The stream a status line writes to: process.stderr or anything with `write` (and optionally `isTTY`, `columns`). */
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

/** A `[####......]` bar of `cells` cells for a fraction in [0, 1]. */
export function bar(fraction: number, cells: number): string {
  return `[${'#'.repeat(Math.round(Math.min(1, Math.max(0, fraction)) * cells)).padEnd(cells, '.')}]`;
}

/** What a status line shows: the in-place line for a terminal of `width` columns, and the plain line for logs. */
export interface StatusText {
  tty(width: number): string;
  plain(): string;
}

export class StatusLine {
  private lastPlain = -Infinity;
  private drawn = false;
  private shown: StatusText | null = null;

  constructor(
    private readonly stream: ProgressStream = process.stderr,
    private readonly plainIntervalMs = 10_000,
  ) {}

  /** Shows `text`: redrawn in place on a TTY; elsewhere a plain line when the interval has passed or `final`. */
  show(text: StatusText, final = false): void {
    this.shown = text;
    if (this.stream.isTTY) {
      const width = this.stream.columns ?? 100;
      let line = text.tty(width);
      if (line.length >= width) line = line.slice(0, width - 1);
      this.stream.write(`\r\x1b[2K${line}`);
      this.drawn = true;
      return;
    }
    const now = Date.now();
    if (now - this.lastPlain >= this.plainIntervalMs || final) {
      this.lastPlain = now;
      this.stream.write(text.plain() + '\n');
    }
  }

  /** Writes a line that stays; with `redraw`, the status line is drawn again below it (TTY). */
  log(line: string, redraw: boolean): void {
    const wasDrawn = this.drawn;
    if (wasDrawn) this.stream.write('\r\x1b[2K');
    this.stream.write(line + '\n');
    this.drawn = false;
    if (redraw && wasDrawn && this.shown) this.show(this.shown);
  }

  /** Ends the status line (TTY). */
  finish(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}
