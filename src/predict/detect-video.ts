// Detection over a video: frames streamed from ffmpeg (src/predict/video-decoder.ts), every `every`-th one run
// through the network, its detections written as a JSON line, and every frame written to an annotated MP4 with the
// boxes of the latest frame detected. Memory holds a few frames, whatever the video's length.
import { basename, extname, join } from 'node:path';
import { DEFAULT_MAX_PIXELS } from '../io/image.js';
import { drawDetections } from '../draw/annotate.js';
import type { Detection, DetectOptions, Detector } from '../serve/detector.js';
import { detectionJson } from './detection-json.js';
import { findFfmpeg, type Ffmpeg } from './ffmpeg.js';
import { OutputNames } from './output-names.js';
import { VideoDecoder, type DecodedFrame } from './video-decoder.js';
import { VideoEncoder } from './video-encoder.js';
import { checkFrameSize, probeVideo, VideoReadError } from './video-probe.js';
import { LineFile, makeOutDir } from './write-file.js';

/** The rate of the annotated video when neither the header nor the timestamps give one. */
const DEFAULT_FPS = 25;

/** Frames per second from two neighbouring frames' timestamps (rounded to 1/1000), else {@link DEFAULT_FPS}. */
function rateOf(t0: number | null, t1: number | null): number {
  return t0 !== null && t1 !== null && t1 > t0 ? Math.round(1000 / (t1 - t0)) / 1000 : DEFAULT_FPS;
}

/**
 * The annotated MP4, opened when its rate is known: the header's average rate, else the first two frames'
 * timestamps (the first frame waits for the second), else {@link DEFAULT_FPS}.
 */
class AnnotatedVideo {
  private encoder: VideoEncoder | undefined;
  private held: DecodedFrame | undefined;

  constructor(
    private readonly ffmpeg: Ffmpeg,
    private readonly file: string,
    public fps: number | undefined,
  ) {}

  /** Appends a frame (drawn on already). */
  async add(frame: DecodedFrame): Promise<void> {
    if (this.encoder === undefined) {
      if (this.fps === undefined && this.held === undefined) {
        this.held = frame;
        return;
      }
      await this.open(frame, rateOf(this.held?.time ?? null, frame.time));
    }
    await this.encoder!.write(frame.pixels);
  }

  private async open(frame: DecodedFrame, rate: number): Promise<void> {
    this.fps ??= rate;
    this.encoder = await VideoEncoder.open(this.ffmpeg, this.file, { width: frame.pixelsWidth, height: frame.pixelsHeight, fps: this.fps });
    if (this.held !== undefined) await this.encoder.write(this.held.pixels);
    this.held = undefined;
  }

  /** Writes what is held and ends the file. */
  async finish(): Promise<void> {
    if (this.encoder === undefined) await this.open(this.held!, DEFAULT_FPS);
    await this.encoder!.finish();
  }

  /** Stops the encoder and removes its unfinished file. */
  async abort(): Promise<void> {
    await this.encoder?.abort();
  }
}

/** One video's result in the run's JSON file. */
export interface VideoResult {
  /** The input file as given. */
  file: string;
  /** The JSON lines file, relative to the output folder: one line per frame detected, `{frame, time, detections}`. */
  detections: string;
  /** The annotated MP4, relative to the output folder. */
  annotated: string;
  /** Frame size as decoded (rotation applied); boxes are in these pixels. The annotated video is cropped to even sides. */
  width: number;
  height: number;
  /** Frames per second of the annotated video: the header's average rate, else the first two frames' timestamps'. */
  fps: number;
  /** Frames decoded, and frames detected (every `every`-th). */
  frames: number;
  detected: number;
  every: number;
  /** Detections over all frames detected. */
  objects: number;
}

/** One line of a video's JSON lines file. */
export interface FrameDetections {
  frame: number;
  /** Presentation time in seconds (null when the stream has none). */
  time: number | null;
  detections: ReturnType<typeof detectionJson>[];
}

/** Options of {@link detectVideo}. */
export interface DetectVideoOptions extends DetectOptions {
  /** Folder for the JSON lines and the annotated video. */
  outDir: string;
  /** Detect on every `every`-th frame (0, every, 2 every, ...); the frames between keep the last boxes. Default 1. */
  every?: number;
  /** Largest frame, in pixels (larger videos are refused from their header). Default 40 megapixels. */
  maxPixels?: number;
  /** The ffmpeg to use. Default {@link findFfmpeg}. */
  ffmpeg?: Ffmpeg;
  /** The names taken in `outDir` by this run. Default: a new set. */
  names?: OutputNames;
  /** After each frame: frames done and the estimated total (from the header's duration and rate; undefined when unknown). */
  onFrame?: (done: number, estimated: number | undefined) => void;
}

/**
 * Detects objects in the frames of `file` with `model`: writes `<stem>.detections.jsonl` (one `{frame, time,
 * detections}` line per frame detected, boxes in pixels of the frame) and `<stem>.annotated.mp4` (every frame, with the
 * boxes of the latest detected frame) to `outDir`. Errors name the file: {@link VideoReadError} for what ffmpeg cannot
 * decode, WriteError for outputs that cannot be written; nothing half-written is left under the final names.
 */
export async function detectVideo(model: Detector, file: string, options: DetectVideoOptions): Promise<VideoResult> {
  const every = options.every ?? 1;
  if (!(Number.isInteger(every) && every >= 1)) throw new Error(`detectVideo: every must be a whole number >= 1, got ${every}`);
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const ffmpeg = options.ffmpeg ?? findFfmpeg();
  const info = await probeVideo(ffmpeg, file);
  checkFrameSize(info, maxPixels, file);
  const estimated = info.duration !== undefined && info.fps !== undefined ? Math.max(1, Math.round(info.duration * info.fps)) : undefined;

  makeOutDir(options.outDir);
  const names = options.names ?? new OutputNames();
  const [jsonName, videoName] = names.take(basename(file, extname(file)), '.detections.jsonl', '.annotated.mp4');
  const decoder = await VideoDecoder.open(ffmpeg, file, { maxPixels });
  const annotated = new AnnotatedVideo(ffmpeg, join(options.outDir, videoName!), info.fps);
  let lines: LineFile | undefined;
  let first: { width: number; height: number } | undefined;
  let latest: Detection[] = [];
  let frames = 0, detected = 0, objects = 0;
  try {
    lines = new LineFile(join(options.outDir, jsonName!), 'the detections file');
    for (let frame = await decoder.read(); frame !== null; frame = await decoder.read()) {
      first ??= { width: frame.width, height: frame.height };
      if (frame.width !== first.width || frame.height !== first.height) {
        throw new VideoReadError(file, `the frame size changes inside the video (${first.width}x${first.height}, then ${frame.width}x${frame.height} at frame ${frame.index}); re-encode it at one size`);
      }
      if (frame.index % every === 0) {
        // Resized by the model's own prepare (sharp's linear kernel), as model.detect resizes an image file.
        const prepared = await model.prepare({ data: frame.pixels, width: frame.pixelsWidth, height: frame.pixelsHeight, channels: 3 });
        const { locs, scores } = await model.predict(prepared.data, 1);
        latest = model.postprocess(locs, scores, frame.pixelsWidth, frame.pixelsHeight, options);
        const line: FrameDetections = { frame: frame.index, time: frame.time === null ? null : Math.round(frame.time * 1e6) / 1e6, detections: latest.map(detectionJson) };
        lines.write(JSON.stringify(line));
        detected++;
        objects += latest.length;
      }
      drawDetections({ data: frame.pixels, width: frame.pixelsWidth, height: frame.pixelsHeight, channels: 3 }, latest, { classNames: model.config.classNames });
      await annotated.add(frame);
      frames++;
      options.onFrame?.(frames, estimated);
    }
    if (frames === 0) throw new VideoReadError(file, 'the video has no frames');
    await annotated.finish();
    lines.close();
  } catch (e) {
    await decoder.close();
    await annotated.abort();
    lines?.abort();
    throw e;
  }
  return { file, detections: jsonName!, annotated: videoName!, width: first!.width, height: first!.height, fps: annotated.fps!, frames, detected, every, objects };
}
