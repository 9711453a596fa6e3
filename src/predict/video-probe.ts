// What a video file holds, from what `ffmpeg -i` prints about it (no frame is decoded): its first video stream's
// codec, frame size and rate, and the duration. ffmpeg alone is enough (the npm package ships no ffprobe).
import { megapixels } from '../io/image.js';
import { runFfmpeg, StderrTail, videoInputArgs, withoutInputName, type Ffmpeg } from './ffmpeg.js';

/** A video's first video stream, as its header describes it. */
export interface VideoInfo {
  /** The codec, as ffmpeg names it (h264, vp9, ...). */
  codec: string;
  /** Frame size as stored (a rotation the file asks for is applied when decoding, and may swap them). */
  width: number;
  height: number;
  /** Frames per second (the stream's average rate), or undefined when the header has none. */
  fps: number | undefined;
  /** Seconds, or undefined when unknown (a live stream, a broken index). */
  duration: number | undefined;
}

/** A file ffmpeg cannot read as a video; the message names the file. */
export class VideoReadError extends Error {
  override readonly name = 'VideoReadError';
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: ${reason}`);
  }
}

/** Reads `ffmpeg -i`'s description of `file`'s first video stream (see {@link parseVideoInfo}). */
export async function probeVideo(ffmpeg: Ffmpeg, file: string): Promise<VideoInfo> {
  // With no output named ffmpeg describes the input and exits with status 1; that is the answer, not a failure.
  // A file with many streams and tags prints many lines: keep enough to reach its streams.
  const r = await runFfmpeg(ffmpeg, ['-hide_banner', '-nostdin', ...videoInputArgs(file)], 2000);
  return parseVideoInfo(withoutInputName(r.stderr, file), file);
}

/** The video stream described in `ffmpeg -i` output; a {@link VideoReadError} when there is none. */
export function parseVideoInfo(text: string, file: string): VideoInfo {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => /^\s*Stream #\d+:\d+.*: Video: /.test(l));
  if (at < 0) {
    const tail = new StderrTail();
    tail.push(text);
    const refused = /\[([\w,]+) @ [^\]]+\] Format not on whitelist/.exec(text);
    const reason = /Input #\d+/.test(text)
      ? 'has no video stream'
      : refused
        ? `is not an MP4, MOV, WebM, Matroska or AVI file: ffmpeg reads it as ${refused[1]!.split(',')[0]}, which is not decoded here`
        : `cannot be read as a video: ${tail.reason().replace(`${file}: `, '')}`;
    throw new VideoReadError(file, reason);
  }
  const stream = lines[at]!;
  const codec = /Video: (\w+)/.exec(stream)![1]!;
  const size = /, (\d+)x(\d+)/.exec(stream);
  if (!size) throw new VideoReadError(file, `the video stream has no frame size (${codec})`);
  // Only the average rate ("fps"): "tbr" is often the time base of a variable-rate stream (1k for WebM).
  const rate = /, (\d+(?:\.\d+)?)(k?) fps/.exec(stream);
  const fps = rate ? Number(rate[1]) * (rate[2] === 'k' ? 1000 : 1) : undefined;
  const d = /Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)/.exec(text);
  const duration = d ? Number(d[1]) * 3600 + Number(d[2]) * 60 + Number(d[3]) : undefined;
  return { codec, width: Number(size[1]), height: Number(size[2]), fps: fps !== undefined && fps > 0 ? fps : undefined, duration };
}

/** Throws a {@link VideoReadError} when `info`'s frames have more than `maxPixels` pixels. */
export function checkFrameSize(info: VideoInfo, maxPixels: number, file: string): void {
  if (info.width * info.height > maxPixels) {
    throw new VideoReadError(file, `video frames are ${info.width}x${info.height} = ${megapixels(info.width * info.height)} megapixels, above the limit of ${megapixels(maxPixels)} megapixels; --max-pixels raises it`);
  }
}
