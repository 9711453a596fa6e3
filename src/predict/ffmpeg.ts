// The ffmpeg program that decodes and encodes videos. Looked for in this order: the path the caller gives, an
// `ffmpeg` on the PATH, then the binary of the optional npm package @ffmpeg-installer/ffmpeg. The system's comes
// first because it is kept up to date by the system's package manager: ffmpeg parses untrusted files with a large
// amount of C code that gets security fixes, and the package's build dates from 2018 (ffmpeg 4.1). The package
// is there so that `npm install` alone is enough.
import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join, resolve } from 'node:path';

/** An ffmpeg binary found, and where it came from. */
export interface Ffmpeg {
  path: string;
  source: 'given' | 'system' | 'package';
}

/** Options of {@link findFfmpeg}. */
export interface FindFfmpegOptions {
  /** Use this binary (e.g. `--ffmpeg /opt/ffmpeg/bin/ffmpeg`). */
  path?: string;
  /** The PATH searched for `ffmpeg`. Default process.env.PATH. */
  searchPath?: string;
  /** Whether the binary of the npm package @ffmpeg-installer/ffmpeg may be used. Default true. */
  usePackage?: boolean;
}

/** No ffmpeg to decode a video with. */
export class FfmpegNotFoundError extends Error {
  override readonly name = 'FfmpegNotFoundError';
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The binary of @ffmpeg-installer/ffmpeg for this platform, or undefined when the optional package is not installed. */
function packageBinary(): string | undefined {
  try {
    const found = createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path?: unknown };
    return typeof found.path === 'string' && executable(found.path) ? found.path : undefined;
  } catch {
    // Not installed (optional), or no build for this platform: the package throws a string.
    return undefined;
  }
}

/** The ffmpeg to use (see the file's comment for the order); a {@link FfmpegNotFoundError} saying how to get one. */
export function findFfmpeg(options: FindFfmpegOptions = {}): Ffmpeg {
  if (options.path !== undefined) {
    if (!executable(options.path)) throw new FfmpegNotFoundError(`ffmpeg '${options.path}' is not an executable file`);
    return { path: options.path, source: 'given' };
  }
  const name = process.platform === 'win32' ? 'ffmpeg.exe' : 'ffmpeg';
  for (const dir of (options.searchPath ?? process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && executable(join(dir, name))) return { path: join(dir, name), source: 'system' };
  }
  const bundled = options.usePackage === false ? undefined : packageBinary();
  if (bundled !== undefined) return { path: bundled, source: 'package' };
  throw new FfmpegNotFoundError(
    'decoding a video needs ffmpeg, and none was found: install it (apt-get install ffmpeg, brew install ffmpeg, winget install ffmpeg), ' +
      'or install the optional package that ships one (npm install @ffmpeg-installer/ffmpeg), or give its path with --ffmpeg',
  );
}

/**
 * ffmpeg's arguments that open `file` as a video input, and nothing else: the file protocol only (a name such as
 * `concat:a|b` or `http:...` is a file name), and only the demuxers of the video extensions read (MP4 and MOV,
 * Matroska and WebM, AVI). ffmpeg picks a demuxer by content, not by name: a playlist saved as `.mp4` would
 * otherwise be read as HLS and open the files or URLs it lists.
 */
export function videoInputArgs(file: string): string[] {
  return ['-protocol_whitelist', 'file', '-format_whitelist', 'mov,matroska,avi', '-i', `file:${resolve(file)}`];
}

const passthrough = new Map<string, Promise<string[]>>();

/**
 * The output option that passes frames through as they are decoded, never duplicating or dropping one to keep a
 * constant rate: `-fps_mode passthrough` from ffmpeg 5.1 on (where `-vsync` is deprecated), `-vsync 0` before (the
 * package's ffmpeg 4.1 has no `-fps_mode`). Tried once per binary on a generated frame.
 */
export function passthroughArgs(ffmpeg: Ffmpeg): Promise<string[]> {
  let p = passthrough.get(ffmpeg.path);
  if (p === undefined) {
    p = runFfmpeg(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'nullsrc=s=16x16:d=0.04', '-fps_mode', 'passthrough', '-f', 'null', '-']).then((r) =>
      r.code === 0 ? ['-fps_mode', 'passthrough'] : ['-vsync', '0'],
    );
    passthrough.set(ffmpeg.path, p);
  }
  return p;
}

/** What ffmpeg's stderr says about `file` without the `file:<path>: ` that starts its own lines. */
export function withoutInputName(text: string, file: string): string {
  return text.split(`file:${resolve(file)}: `).join('');
}

/** What a finished ffmpeg run printed and its exit status. */
export interface FfmpegExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** What it printed on stdout (at most 1 MiB). */
  stdout: string;
  /** The last lines of stderr. */
  stderr: string;
}

/** Runs ffmpeg to the end with `args`, stdin closed; output kept within bounds (the last `stderrLines` of stderr). */
export function runFfmpeg(ffmpeg: Ffmpeg, args: readonly string[], stderrLines = 40): Promise<FfmpegExit> {
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpeg.path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const tail = new StderrTail(stderrLines);
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < 2 ** 20) stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => tail.push(d));
    child.on('error', (e) => reject(new Error(`cannot run ffmpeg '${ffmpeg.path}': ${e.message}`)));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr: tail.text() }));
  });
}

/** The last lines of a process's stderr, in bounded memory. */
export class StderrTail {
  private lines: string[] = [];
  private partial = '';

  constructor(private readonly keep = 40) {}

  /** Adds output; complete lines go to `onLine`. */
  push(chunk: Buffer | string, onLine?: (line: string) => void): void {
    const parts = (this.partial + chunk.toString()).split(/\r?\n|\r/);
    this.partial = parts.pop()!;
    if (this.partial.length > 4096) this.partial = this.partial.slice(-4096);
    for (const line of parts) {
      onLine?.(line);
      this.lines.push(line);
    }
    if (this.lines.length > 2 * this.keep) this.lines = this.lines.slice(-this.keep);
  }

  /** The kept lines (and an unfinished last one). */
  text(): string {
    return [...this.lines.slice(-this.keep), this.partial].filter((l) => l.trim() !== '').join('\n');
  }

  /** The last lines that say what went wrong (ffmpeg's own messages, not the stream listing). */
  reason(): string {
    const lines = this.text()
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.includes('showinfo') && !/^(Input|Output|Stream|Duration|Metadata|Side data|Press|\w+\s*:)/.test(l));
    return lines.slice(-3).join('; ') || 'no message';
  }
}
