// The output folder of `ssd detect` must lie outside its inputs: written into an input folder, annotated copies
// would replace the originals (same names) or be taken as inputs by the next run over that folder.
import { realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';

/** An output folder that is, or is inside, one of the inputs, or that holds an input file. */
export class UnsafeOutDirError extends Error {
  override readonly name = 'UnsafeOutDirError';
}

/** `path` absolute, with symbolic links resolved; for a path that does not exist yet, its nearest existing folder's. */
export function realPathOf(path: string): string {
  const tail: string[] = [];
  let p = resolve(path);
  for (;;) {
    try {
      return join(realpathSync(p), ...tail);
    } catch {
      const parent = dirname(p);
      if (parent === p) return resolve(path);
      tail.unshift(basename(p));
      p = parent;
    }
  }
}

/** True when `inner` is `outer` or lies inside it (both real, absolute paths). */
function within(inner: string, outer: string): boolean {
  return inner === outer || inner.startsWith(outer.endsWith(sep) ? outer : outer + sep);
}

/**
 * Throws an {@link UnsafeOutDirError} when `outDir` is one of the folders of `inputs`, or inside one, or when it is
 * the folder of one of the files of `inputs` (that file's annotated copy would replace it). Paths are compared with
 * symbolic links resolved; inputs that do not exist are passed over.
 */
export function checkOutDir(outDir: string, inputs: readonly string[]): void {
  const out = realPathOf(outDir);
  const shown = (p: string): string => relative(process.cwd(), p) || '.';
  const fileFolders = new Map<string, string>();
  for (const input of inputs) {
    let folder: boolean;
    try {
      folder = statSync(input).isDirectory();
    } catch {
      continue;
    }
    if (!folder) {
      if (!fileFolders.has(dirname(input))) fileFolders.set(dirname(input), input);
    } else if (within(out, realPathOf(input))) {
      throw new UnsafeOutDirError(
        `the output folder ${shown(out)} ${out === realPathOf(input) ? 'is' : 'is inside'} the input folder ${input}: annotated copies would replace the originals, or be taken as inputs by the next run over ${input}; give an --out outside the inputs`,
      );
    }
  }
  for (const [folder, file] of fileFolders) {
    if (realPathOf(folder) === out) throw new UnsafeOutDirError(`the output folder ${shown(out)} holds the input ${file}: its annotated copy would replace it; give an --out outside the inputs`);
  }
}
