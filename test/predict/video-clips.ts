// Short video clips made in the tests with ffmpeg: a camera pan over a scene of shapes (src/data/synthetic.ts), and
// ffmpeg's own test pattern; plus what ffmpeg says of a video file (its `ffmpeg -i` text) and its decoded frames.
import { spawnSync } from 'node:child_process';
import { renderScene } from '../../src/data/synthetic.js';
import { findFfmpeg, FfmpegNotFoundError, passthroughArgs, type Ffmpeg } from '../../src/predict/ffmpeg.js';
import { mp4Codec } from '../../src/predict/video-encoder.js';

/** The ffmpeg the library would use, or undefined (the tests that need one are skipped, saying why). */
export function testFfmpeg(): Ffmpeg | undefined {
  try {
    return findFfmpeg();
  } catch (e) {
    if (e instanceof FfmpegNotFoundError) return undefined;
    throw e;
  }
}

/** Runs ffmpeg to the end; throws with its stderr when it fails. */
export function ffmpegSync(ffmpeg: Ffmpeg, args: string[], input?: Uint8Array): { stdout: Buffer; stderr: string; status: number | null } {
  const r = spawnSync(ffmpeg.path, ['-hide_banner', '-nostdin', ...args], { input, maxBuffer: 1 << 30 });
  return { stdout: r.stdout, stderr: r.stderr.toString(), status: r.status };
}

/**
 * `frames` frames of `width` x `height` panning across a scene of shapes (seed `seed`), 4 pixels right and 2 down a
 * frame, as raw RGB.
 */
export function panFrames(width: number, height: number, frames: number, seed = 7): Buffer {
  const side = Math.max(width + 4 * frames, height + 2 * frames);
  const scene = renderScene(seed, { size: side });
  const out = Buffer.alloc(width * height * 3 * frames);
  for (let k = 0; k < frames; k++) {
    for (let y = 0; y < height; y++) {
      const from = ((y + 2 * k) * side + 4 * k) * 3;
      out.set(scene.rgb.subarray(from, from + width * 3), (k * height + y) * width * 3);
    }
  }
  return out;
}

/** Encodes raw RGB frames as an MP4 (H.264 where this ffmpeg has it) at `fps`. */
export async function encodeMp4(ffmpeg: Ffmpeg, file: string, frames: Buffer, width: number, height: number, fps: number): Promise<void> {
  const r = ffmpegSync(ffmpeg, ['-loglevel', 'error', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-r', String(fps), '-i', 'pipe:0', ...(await mp4Codec(ffmpeg)), '-y', file], frames);
  if (r.status !== 0) throw new Error(`encoding ${file} failed: ${r.stderr}`);
}

/** What `ffmpeg -i` says of a file's video stream: its size and frame rate. */
export function describeVideo(ffmpeg: Ffmpeg, file: string): { width: number; height: number; fps: number; codec: string } {
  const text = ffmpegSync(ffmpeg, ['-i', file]).stderr;
  const m = /Video: (\w+).*?, (\d+)x(\d+).*?, (\d+(?:\.\d+)?) fps/.exec(text);
  if (!m) throw new Error(`no video stream in ffmpeg's description of ${file}:\n${text}`);
  return { codec: m[1]!, width: Number(m[2]), height: Number(m[3]), fps: Number(m[4]) };
}

/** Every frame of a video decoded to raw RGB by ffmpeg (for short test clips only). */
export async function decodeFrames(ffmpeg: Ffmpeg, file: string): Promise<Buffer> {
  const r = ffmpegSync(ffmpeg, ['-loglevel', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'rgb24', ...(await passthroughArgs(ffmpeg)), 'pipe:1']);
  if (r.status !== 0) throw new Error(`decoding ${file} failed: ${r.stderr}`);
  return r.stdout;
}

/** Frame `index` of a video written by ffmpeg as a PNG file (the frame as a user would extract it). */
export async function extractFrame(ffmpeg: Ffmpeg, file: string, index: number, png: string): Promise<void> {
  const r = ffmpegSync(ffmpeg, ['-loglevel', 'error', '-i', file, '-vf', `select=eq(n\\,${index})`, ...(await passthroughArgs(ffmpeg)), '-frames:v', '1', '-y', png]);
  if (r.status !== 0) throw new Error(`extracting frame ${index} of ${file} failed: ${r.stderr}`);
}
