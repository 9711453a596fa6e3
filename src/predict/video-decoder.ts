// A video's frames, decoded by one ffmpeg process into two pipes of raw RGB: every frame at its own size (for the
// annotated copy), and every frame resized to the network's input size, of which every `every`-th is kept for
// detection. Each frame's number, timestamp and size come from ffmpeg's showinfo filter on stderr. The pipes are
// read one frame at a time, so memory holds a few frames whatever the video's length: ffmpeg waits while the pipes
// are full. Both pipes carry every frame, in step: with a select filter on the small one, ffmpeg 5 writes the
// sampled frame k only after the full frames up to the next sample, which are read only after frame k (a deadlock).
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
  /** RGB at the network's input size, for the frames sampled for detection. */
  small?: Buffer;
}

/** Options of {@link VideoDecoder}. */
export interface VideoDecoderOptions {
  /** The network's input size: the size of `small`. */
  size: { width: number; height: number };
  /** Detect on every `every`-th frame (frames 0, every, 2 every, ...). */
  every: number;
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
  private readonly small: FrameReader;
  private readonly tail = new StderrTail();
  private readonly infos: FrameInfo[] = [];
  private stderrDone = false;
  private wake: (() => void) | undefined;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private next = 0;
  private nextSmall: Promise<Buffer | null>;

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
    const { width: W, height: H } = options.size;
    // Converted to RGB once at full size (as a frame extracted to an image file is), then resized with swscale's
    // bilinear, which widens for downscaling as sharp's linear kernel does: within a level of sharp's resize.
    const graph = `[0:v]format=rgb24,showinfo,split=2[d][f];[d]scale=${W}:${H}:flags=bilinear,format=rgb24[small];[f]crop=trunc(iw/2)*2:trunc(ih/2)*2:0:0,format=rgb24[full]`;
    const raw = ['-f', 'rawvideo', ...passthrough];
    const args = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info', '-max_pixels', String(options.maxPixels), ...videoInputArgs(file), '-filter_complex', graph, '-map', '[small]', ...raw, 'pipe:1', '-map', '[full]', ...raw, 'pipe:3'];
    this.child = spawn(ffmpeg.path, args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => {
      this.child.on('error', (e) => {
        this.tail.push(`cannot run ffmpeg '${ffmpeg.path}': ${e.message}\n`);
        resolve({ code: -1, signal: null });
      });
      this.child.on('close', (code, signal) => resolve({ code, signal }));
    });
    this.small = new FrameReader(this.child.stdio[1] as Readable);
    this.full = new FrameReader(this.child.stdio[3] as Readable);
    this.nextSmall = this.prefetchSmall();
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
    const resized = await this.readFrame(this.nextSmall, info);
    this.nextSmall = this.prefetchSmall();
    const small = info.index % this.options.every === 0 ? resized : undefined;
    return { index: info.index, time: info.time, width: info.width, height: info.height, pixels, pixelsWidth: pw, pixelsHeight: ph, ...(small ? { small } : {}) };
  }

  /**
   * The next frame at the network's size, read ahead: ffmpeg may write it before the full-size frame
   * (a pipe holds less than a frame), and waits until it is read, so it is always being read.
   */
  private prefetchSmall(): Promise<Buffer | null> {
    const { width, height } = this.options.size;
    const p = this.small.read(width * height * 3);
    p.catch(() => undefined); // Awaited (and its error reported) by read; a decoder closed early never awaits it.
    return p;
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
