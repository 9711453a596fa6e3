// Writing a file so that a crash never leaves half of it: the bytes go to a temporary file beside the target,
// are flushed to disk, and the temporary file is renamed over the target.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

/** Writes `chunks` (in order) to `path` atomically; the temporary file is removed when anything fails. */
export function writeFileAtomic(path: string, chunks: readonly Uint8Array[] | Uint8Array): void {
  const parts = chunks instanceof Uint8Array ? [chunks] : chunks;
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'w');
  let open = true;
  try {
    for (const c of parts) {
      let written = 0;
      while (written < c.byteLength) written += writeSync(fd, c, written, c.byteLength - written);
    }
    fsyncSync(fd);
    closeSync(fd);
    open = false;
    renameSync(tmp, path);
  } catch (e) {
    if (open) closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
}
