// Writing `ssd detect`'s outputs: a write that fails names the file and says what the user can do about it.
import { closeSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { writeFileAtomic } from '../io/atomic-write.js';

/** A write that failed: the message names the file and what to do. */
export class WriteError extends Error {
  override readonly name = 'WriteError';
  constructor(
    readonly file: string,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** What the user can do about a failed write, by the system's error code. */
export function writeHint(code: string | undefined): string {
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return 'the disk is full: free some space, or give an --out on another disk';
    case 'EACCES':
    case 'EPERM':
      return 'no permission to write there: give an --out you can write to';
    case 'EROFS':
      return 'the file system is read-only: give an --out on a writable disk';
    case 'EISDIR':
      return 'a folder of that name is in the way: move it, or give another --out';
    case 'ENOTDIR':
      return 'a file is in the way of a folder on that path: give another --out';
    case 'ENAMETOOLONG':
      return 'the path is too long: give a shorter --out';
    default:
      return 'check the folder and the disk, or give another --out';
  }
}

/** Rethrows a system error of writing `file` as a {@link WriteError} saying `what` was written. */
export function writeFailure(e: unknown, file: string, what: string): WriteError {
  if (e instanceof WriteError) return e;
  const err = e as NodeJS.ErrnoException;
  return new WriteError(file, err.code, `cannot write ${what} ${file}: ${err.message}; ${writeHint(err.code)}`);
}

/** Creates `dir` (and its parents). */
export function makeOutDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw writeFailure(e, dir, 'the output folder');
  }
}

/** Writes `data` to `file`; errors name it as `what`. */
export function writeOutput(file: string, data: Uint8Array | string, what: string): void {
  try {
    writeFileSync(file, data);
  } catch (e) {
    throw writeFailure(e, file, what);
  }
}

/** Writes `value` as JSON to `file` atomically (io/atomic-write.ts). */
export function writeJsonFile(file: string, value: unknown, what = 'the results file'): void {
  try {
    writeFileAtomic(file, new TextEncoder().encode(JSON.stringify(value, null, 1) + '\n'));
  } catch (e) {
    throw writeFailure(e, file, what);
  }
}

/**
 * A file written line by line (JSON lines), under a temporary name until {@link LineFile.close} renames it into
 * place: a run that fails leaves no half-written file under the final name.
 */
export class LineFile {
  private readonly tmp: string;
  private fd: number | undefined;

  constructor(
    readonly file: string,
    private readonly what: string,
  ) {
    this.tmp = `${file}.tmp-${process.pid}`;
    try {
      this.fd = openSync(this.tmp, 'w');
    } catch (e) {
      throw writeFailure(e, file, what);
    }
  }

  /** Appends `line` and a newline. */
  write(line: string): void {
    try {
      writeSync(this.fd!, line + '\n');
    } catch (e) {
      this.abort();
      throw writeFailure(e, this.file, this.what);
    }
  }

  /** Closes the file and moves it to its name. */
  close(): void {
    try {
      closeSync(this.fd!);
      this.fd = undefined;
      renameSync(this.tmp, this.file);
    } catch (e) {
      this.abort();
      throw writeFailure(e, this.file, this.what);
    }
  }

  /** Closes and removes the temporary file (a failed run). */
  abort(): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // Closing a file that failed to write: nothing more to say.
      }
      this.fd = undefined;
    }
    rmSync(this.tmp, { force: true });
  }
}
