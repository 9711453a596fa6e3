// Names of the files one `ssd detect` run writes into its output folder: an input's own base name where it is free,
// with `_1`, `_2` after the stem where two inputs share one (compared without case, as macOS and Windows do).
import { basename, extname } from 'node:path';

export class OutputNames {
  private readonly taken = new Set<string>();

  /** Takes `name` (reserved by the run itself, e.g. detections.json). */
  reserve(name: string): void {
    this.taken.add(name.toLowerCase());
  }

  /**
   * Free names for `stem` with each of `suffixes`, numbered alike: (`street`, `.jsonl`, `.mp4`) gives `street.jsonl`
   * and `street.mp4`, or `street_1.jsonl` and `street_1.mp4` when either is taken, ...
   */
  take(stem: string, ...suffixes: string[]): string[] {
    let names = suffixes.map((s) => `${stem}${s}`);
    for (let i = 1; names.some((n) => this.taken.has(n.toLowerCase())); i++) names = suffixes.map((s) => `${stem}_${i}${s}`);
    for (const n of names) this.taken.add(n.toLowerCase());
    return names;
  }

  /** A free name for the copy of `file`: its base name, or `stem_1.ext`, ... */
  copyOf(file: string): string {
    const ext = extname(file);
    return this.take(basename(file, ext), ext)[0]!;
  }
}
