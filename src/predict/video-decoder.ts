// A video's frames, decoded by one ffmpeg process into one pipe of raw RGB at the frame's own size (cropped to even
// sides, for the annotated H.264 copy). Each frame's number, timestamp and size come from ffmpeg's showinfo filter
// on stderr, which is read as it comes. The pipe is read one frame at a time, so memory holds a few frames whatever
// the video's length: ffmpeg waits while the pipe is full. One pipe, not a second with the frames already resized for
// the network: ffmpeg 5.1 writes its outputs in an order of its own (a sampled frame after the full frames that
// follow it), and a reader that waits for one pipe while the other is full deadlocks it.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { passthroughArgs, StderrTail, videoInputArgs, withoutInputName, type Ffmpeg } from './ffmpeg.js';
import { FrameReader } from './frame-reader.js';
import { VideoReadError } from './video-probe.js';

/** One decoded frame. */
export interface DecodedFrame {
  /** Its number in the video, from 0. */
  index: number;
  /** Its presentation time in seconds, or null when the stream has no timestamps. */
  time: number | null;
  /** The frame's size as decoded (a rotation the file asks for applied). */
  width: number;
  height: number;
  /** RGB, 3 bytes a pixel, `pixelsWidth` x `pixelsHeight`: the frame cropped to even sides (what H.264 encodes). */
  pixels: Buffer;
  pixelsWidth: number;
  pixelsHeight: number;
}

/** Options of {@link VideoDecoder}. */
export interface VideoDecoderOptions {
  /** ffmpeg's decoder refuses frames with more pixels than this. */
  maxPixels: number;
}

interface FrameInfo {
  index: number;
  time: number | null;
  width: number;
  height: number;
}

const SHOWINFO = /\bn:\s*(\d+)\s+pts:\s*\S+\s+pts_time:(\S+).*?\ss:(\d+)x(\d+)/;

export class VideoDecoder {
  private readonly child: ChildProcess;
  private readonly full: FrameReader;
  private readonly tail = new StderrTail();
  private readonly infos: FrameInfo[] = [];
  private stderrDone = false;
  private wake: (() => void) | undefined;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private next = 0;

  /** Starts ffmpeg decoding `file`. */
  static async open(ffmpeg: Ffmpeg, file: string, options: VideoDecoderOptions): Promise<VideoDecoder> {
    return new VideoDecoder(ffmpeg, file, options, await passthroughArgs(ffmpeg));
  }

  private constructor(
    ffmpeg: Ffmpeg,
    private readonly file: string,
    private readonly options: VideoDecoderOptions,
    passthrough: string[],
  ) {
    const graph = '[0:v]format=rgb24,showinfo,crop=trunc(iw/2)*2:trunc(ih/2)*2:0:0,format=rgb24[full]';
    const args = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info', '-max_pixels', String(options.maxPixels), ...videoInputArgs(file), '-filter_complex', graph, '-map', '[full]', '-f', 'rawvideo', ...passthrough, 'pipe:1'];
    this.child = spawn(ffmpeg.path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => {
      this.child.on('error', (e) => {
        this.tail.push(`cannot run ffmpeg '${ffmpeg.path}': ${e.message}\n`);
        resolve({ code: -1, signal: null });
      });
      this.child.on('close', (code, signal) => resolve({ code, signal }));
    });
    this.full = new FrameReader(this.child.stdio[1] as Readable);
    const stderr = this.child.stdio[2] as Readable;
    stderr.on('data', (d: Buffer) =>
      this.tail.push(d, (line) => {
        const m = line.includes('showinfo') ? SHOWINFO.exec(line) : null;
        if (!m) return;
        const time = Number(m[2]);
        this.infos.push({ index: Number(m[1]), time: Number.isFinite(time) ? time : null, width: Number(m[3]), height: Number(m[4]) });
        this.wake?.();
      }),
    );
    const done = (): void => {
      this.stderrDone = true;
      this.wake?.();
    };
    stderr.on('end', done);
    stderr.on('close', done);
  }

  /** The next frame, or null after the last. Errors name the file and say what ffmpeg said. */
  async read(): Promise<DecodedFrame | null> {
    while (this.infos.length === 0 && !this.stderrDone) await new Promise<void>((r) => (this.wake = r));
    this.wake = undefined;
    const info = this.infos.shift();
    if (info === undefined) {
      const { code, signal } = await this.exited;
      if (code !== 0) throw new VideoReadError(this.file, `ffmpeg could not decode it (${signal ?? `exit status ${code}`}): ${withoutInputName(this.tail.reason(), this.file)}`);
      return null;
    }
    if (info.index !== this.next) throw new VideoReadError(this.file, `ffmpeg reported frame ${info.index} where frame ${this.next} was due`);
    this.next++;
    const pw = info.width - (info.width % 2), ph = info.height - (info.height % 2);
    if (pw === 0 || ph === 0) throw new VideoReadError(this.file, `a frame of ${info.width}x${info.height} pixels is too small to encode`);
    const pixels = await this.readFrame(this.full.read(pw * ph * 3), info);
    return { index: info.index, time: info.time, width: info.width, height: info.height, pixels, pixelsWidth: pw, pixelsHeight: ph };
  }

  private async readFrame(pending: Promise<Buffer | null>, info: FrameInfo): Promise<Buffer> {
    let frame: Buffer | null;
    try {
      frame = await pending;
    } catch (e) {
      throw new VideoReadError(this.file, `frame ${info.index}: ${(e as Error).message}; the frame size changed inside the video, or ffmpeg stopped: ${withoutInputName(this.tail.reason(), this.file)}`);
    }
    if (frame === null) {
      const { code } = await this.exited;
      throw new VideoReadError(this.file, `ffmpeg stopped before frame ${info.index} (exit status ${code}): ${withoutInputName(this.tail.reason(), this.file)}`);
    }
    return frame;
  }

  /** Stops ffmpeg (after an error, or to stop early). */
  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    for (const s of this.child.stdio) (s as Readable | null)?.destroy();
    await this.exited;
  }
}
