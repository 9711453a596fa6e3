// An MP4 video written from raw RGB frames piped into ffmpeg, one at a time (ffmpeg encodes while the next frame is
// made; a full pipe makes the writer wait). H.264 (libx264) where the ffmpeg has it, else MPEG-4 part 2, which every
// ffmpeg has. The file is written under a temporary name and renamed when complete.
import { spawn, type ChildProcess } from 'node:child_process';
import { renameSync, rmSync } from 'node:fs';
import { runFfmpeg, StderrTail, type Ffmpeg } from './ffmpeg.js';
import { WriteError, writeFailure, writeHint } from './write-file.js';

const codecs = new Map<string, Promise<string[]>>();

/** The encoder arguments for MP4 video with this ffmpeg: libx264 when it has it, else mpeg4. */
export function mp4Codec(ffmpeg: Ffmpeg): Promise<string[]> {
  let c = codecs.get(ffmpeg.path);
  if (c === undefined) {
    c = runFfmpeg(ffmpeg, ['-hide_banner', '-encoders']).then((r) =>
      /^\s*V\S*\s+libx264\s/m.test(r.stdout) ? ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '20', '-pix_fmt', 'yuv420p'] : ['-c:v', 'mpeg4', '-q:v', '3', '-pix_fmt', 'yuv420p'],
    );
    codecs.set(ffmpeg.path, c);
  }
  return c;
}

/** Options of {@link VideoEncoder.open}. */
export interface VideoEncoderOptions {
  /** Frame size; even (H.264 in 4:2:0 needs even sides). */
  width: number;
  height: number;
  /** Frames per second. */
  fps: number;
}

export class VideoEncoder {
  private readonly tail = new StderrTail();
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private pipeError: Error | undefined;

  private constructor(
    private readonly child: ChildProcess,
    readonly file: string,
    private readonly tmp: string,
    private readonly frameBytes: number,
  ) {
    this.exited = new Promise((resolve) => {
      child.on('error', (e) => {
        this.tail.push(`cannot run ffmpeg: ${e.message}\n`);
        resolve({ code: -1, signal: null });
      });
      child.on('close', (code, signal) => resolve({ code, signal }));
    });
    child.stderr!.on('data', (d: Buffer) => this.tail.push(d));
    // EPIPE when ffmpeg has stopped: the reason is in its stderr, reported by write or finish.
    child.stdin!.on('error', (e) => (this.pipeError = e));
  }

  /** Starts ffmpeg writing `file` (MP4) from frames of `options`' size. */
  static async open(ffmpeg: Ffmpeg, file: string, options: VideoEncoderOptions): Promise<VideoEncoder> {
    const { width, height, fps } = options;
    const tmp = `${file}.tmp-${process.pid}`;
    const args = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'error', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-r', String(fps), '-i', 'pipe:0', '-an', ...(await mp4Codec(ffmpeg)), '-movflags', '+faststart', '-f', 'mp4', '-y', tmp];
    const child = spawn(ffmpeg.path, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    return new VideoEncoder(child, file, tmp, width * height * 3);
  }

  /** Appends a frame (RGB, the size given to open); waits while ffmpeg's pipe is full. */
  async write(frame: Uint8Array): Promise<void> {
    if (frame.length !== this.frameBytes) throw new Error(`video encoder: a frame of ${frame.length} bytes where ${this.frameBytes} are due`);
    const stdin = this.child.stdin!;
    if (this.pipeError === undefined && !stdin.write(frame)) {
      // Until the pipe drains, or closes because ffmpeg stopped.
      await new Promise<void>((resolve) => {
        const done = (): void => {
          stdin.off('drain', done);
          stdin.off('close', done);
          resolve();
        };
        stdin.on('drain', done);
        stdin.on('close', done);
      });
    }
    if (this.pipeError !== undefined || this.child.exitCode !== null) throw await this.failure();
  }

  /** Ends the video: waits for ffmpeg, then moves the file to its name. */
  async finish(): Promise<void> {
    this.child.stdin!.end();
    const { code } = await this.exited;
    if (code !== 0) throw await this.failure();
    try {
      renameSync(this.tmp, this.file);
    } catch (e) {
      rmSync(this.tmp, { force: true });
      throw writeFailure(e, this.file, 'the annotated video');
    }
  }

  /** Stops ffmpeg and removes the unfinished file. */
  async abort(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
    rmSync(this.tmp, { force: true });
  }

  /** The error of a failed encode, naming the file, with ffmpeg's reason and what to do. */
  private async failure(): Promise<WriteError> {
    await this.abort();
    const reason = this.tail.reason();
    const code = /No space left/i.test(reason) ? 'ENOSPC' : /Permission denied/i.test(reason) ? 'EACCES' : /Read-only file system/i.test(reason) ? 'EROFS' : undefined;
    return new WriteError(this.file, code, `cannot write the annotated video ${this.file}: ffmpeg stopped: ${reason}; ${writeHint(code)}`);
  }
}
