// Videos through ffmpeg: clips made here (a pan over a scene of shapes as H.264 MP4, ffmpeg's test pattern at an odd
// size as lossless FFV1 in Matroska). Checked against what cannot be made up: the frame count and the timestamps of
// the clip as encoded, model.detect on the same frame extracted by ffmpeg as a PNG (the same pixels, resized by the
// same sharp call: scores within 1e-5 and box corners within 0.01 pixel, the rounding of the JSON; compared without
// NMS, whose choice between two near-equal overlapping boxes would flip on a last-bit difference), and ffmpeg's own
// reading of the annotated video (frames, size, rate).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Detection } from '../../src/nn/model.js';
import { detectVideo, type FrameDetections } from '../../src/predict/detect-video.js';
import type { DetectionJson } from '../../src/predict/detection-json.js';
import { findFfmpeg, FfmpegNotFoundError, passthroughArgs, type Ffmpeg } from '../../src/predict/ffmpeg.js';
import { parseVideoInfo, VideoReadError } from '../../src/predict/video-probe.js';
import { WriteError } from '../../src/predict/write-file.js';
import { TinyDetector } from '../serve/tiny-model.js';
import { decodeFrames, describeVideo, encodeMp4, extractFrame, ffmpegSync, panFrames, testFfmpeg } from './video-clips.js';

const ffmpeg = testFfmpeg();
const skip = ffmpeg === undefined ? 'no ffmpeg here: neither on the PATH nor the optional package @ffmpeg-installer/ffmpeg' : false;
const W = 480, H = 352, N = 12, FPS = 10;
/** Every box above 0.4, none suppressed by NMS (an IoU is never above 1) or by the top-k. */
const noNms = { minScore: 0.4, maxOverlap: 1, topK: 1_000_000 };

let dir: string;
let clip: string;
let source: Buffer;
const model = new TinyDetector();

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ssd-video-'));
  if (!ffmpeg) return;
  clip = join(dir, 'pan.mp4');
  await encodeMp4(ffmpeg, clip, panFrames(W, H, N), W, H, FPS);
  source = await decodeFrames(ffmpeg, clip);
});

after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await model.dispose();
});

const readLines = (file: string): FrameDetections[] =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as FrameDetections);

const iou = (a: Detection['box'], b: Detection['box']): number => {
  const w = Math.max(0, Math.min(a.xmax, b.xmax) - Math.max(a.xmin, b.xmin)), h = Math.max(0, Math.min(a.ymax, b.ymax) - Math.max(a.ymin, b.ymin));
  const area = (x: Detection['box']) => (x.xmax - x.xmin) * (x.ymax - x.ymin);
  return (w * h) / (area(a) + area(b) - w * h);
};

/**
 * Every detection of `got` clear of the threshold (by more than the score tolerance) has one in `want` with its
 * label, a score within 1e-5 and corners within 0.01 pixel; and the other way round.
 */
function assertSameDetections(got: readonly DetectionJson[], want: readonly Detection[], minScore: number, what: string): void {
  const near = (a: DetectionJson | Detection, b: DetectionJson | Detection): boolean =>
    a.label === b.label && Math.abs(a.score - b.score) <= 1e-5 && (['xmin', 'ymin', 'xmax', 'ymax'] as const).every((k) => Math.abs(a.box[k] - b.box[k]) <= 0.01);
  const clear = (d: { score: number }) => d.score > minScore + 1e-5;
  for (const d of got.filter(clear)) assert.ok(want.some((w) => near(d, w)), `${what}: ${JSON.stringify(d)} is not among model.detect's`);
  for (const w of want.filter(clear)) assert.ok(got.some((d) => near(d, w)), `${what}: model.detect's ${JSON.stringify(w)} is missing`);
  assert.ok(want.filter(clear).length > 0, `${what}: the scene must give detections`);
  // Boxes as IoU too: the same objects, not just nearby corners.
  for (const d of got.filter(clear)) assert.ok(want.some((w) => w.label === d.label && iou(w.box, d.box) > 0.95));
}

test('detectVideo: one JSON line per frame with its time, detections as model.detect gives on the frame as an image, an annotated MP4 of every frame', { skip }, async () => {
  const out = join(dir, 'out-all');
  const done: number[] = [];
  const r = await detectVideo(model, clip, { ...noNms, outDir: out, ffmpeg, onFrame: (n, total) => done.push(n, total ?? -1) });
  assert.deepEqual({ ...r, objects: 0 }, { file: clip, detections: 'pan.detections.jsonl', annotated: 'pan.annotated.mp4', width: W, height: H, fps: FPS, frames: N, detected: N, every: 1, objects: 0 });
  assert.deepEqual(done, Array.from({ length: N }, (_, i) => [i + 1, N]).flat(), 'onFrame after each frame, with the total estimated from the header');
  const lines = readLines(join(out, r.detections));
  assert.deepEqual(lines.map((l) => l.frame), [...Array(N).keys()]);
  lines.forEach((l, i) => assert.ok(Math.abs(l.time! - i / FPS) < 1e-6, `frame ${i} at ${l.time} s`));
  assert.equal(r.objects, lines.reduce((n, l) => n + l.detections.length, 0));
  for (const k of [0, 6, 11]) {
    const png = join(dir, `frame${k}.png`);
    await extractFrame(ffmpeg!, clip, k, png);
    assertSameDetections(lines[k]!.detections, await model.detect(png, noNms), noNms.minScore, `frame ${k}`);
  }
  const annotated = join(out, r.annotated);
  const { width, height, fps } = describeVideo(ffmpeg!, annotated);
  assert.deepEqual([width, height, fps], [W, H, FPS], "ffmpeg's reading of the annotated video");
  const frames = await decodeFrames(ffmpeg!, annotated);
  assert.equal(frames.length, N * W * H * 3, 'every frame, at the frame size');
  // The boxes are drawn: many pixels far from the source frame's; elsewhere the frame is the source (lossy codecs).
  let far = 0, diff = 0;
  for (let i = 0; i < W * H * 3; i++) {
    const d = Math.abs(frames[i]! - source[i]!);
    if (d > 60) far++;
    diff += d;
  }
  assert.ok(far / (W * H * 3) > 0.01, `${far} values of frame 0 changed by the boxes`);
  assert.ok(diff / (W * H * 3) < 20, 'the rest of the frame is the video');
  assert.deepEqual(readdirSync(out).sort(), ['pan.annotated.mp4', 'pan.detections.jsonl'], 'no temporary file left');
});

test('detectVideo --every 3: frames 0, 3, 6, 9 detected, with the detections of the run over every frame; the annotated video keeps every frame', { skip }, async () => {
  const r = await detectVideo(model, clip, { ...noNms, outDir: join(dir, 'out-every'), every: 3, ffmpeg });
  assert.equal(r.frames, N);
  assert.equal(r.detected, 4);
  const lines = readLines(join(dir, 'out-every', r.detections));
  assert.deepEqual(lines.map((l) => [l.frame, l.time]), [[0, 0], [3, 0.3], [6, 0.6], [9, 0.9]]);
  const all = readLines(join(dir, 'out-all', 'pan.detections.jsonl'));
  for (const l of lines) assert.deepEqual(l, all[l.frame], `frame ${l.frame}: the same pixels give the same detections`);
  assert.equal((await decodeFrames(ffmpeg!, join(dir, 'out-every', r.annotated))).length, N * W * H * 3);
});

test('an odd frame size (161x121, lossless FFV1 in Matroska): boxes in the frame\'s pixels, the annotated video cropped to 160x120 for H.264', { skip }, async () => {
  const odd = join(dir, 'pattern.mkv');
  const made = ffmpegSync(ffmpeg!, ['-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=161x121:rate=25:duration=0.4', '-c:v', 'ffv1', '-y', odd]);
  assert.equal(made.status, 0, made.stderr);
  const r = await detectVideo(model, odd, { outDir: join(dir, 'out-odd'), minScore: 0.2, ffmpeg });
  assert.deepEqual([r.width, r.height, r.frames, r.fps], [161, 121, 10, 25]);
  const lines = readLines(join(dir, 'out-odd', r.detections));
  assert.deepEqual(lines.map((l) => l.time), [0, 0.04, 0.08, 0.12, 0.16, 0.2, 0.24, 0.28, 0.32, 0.36]);
  assert.ok(lines.every((l) => l.detections.every((d) => d.box.xmax <= 161 && d.box.ymax <= 121)));
  const v = describeVideo(ffmpeg!, join(dir, 'out-odd', r.annotated));
  assert.deepEqual([v.width, v.height, v.fps], [160, 120, 25]);
  assert.equal((await decodeFrames(ffmpeg!, join(dir, 'out-odd', r.annotated))).length, 10 * 160 * 120 * 3);
});

test('videos that cannot be read, are not video containers, or are too large, are errors naming the file; an output that cannot be written names it and what to do, and leaves nothing half-written', { skip }, async () => {
  const bad = join(dir, 'notes.mp4');
  writeFileSync(bad, 'not a video');
  await assert.rejects(detectVideo(model, bad, { outDir: join(dir, 'out-bad'), ffmpeg }), (e: Error) => e instanceof VideoReadError && e.message.startsWith(`${bad}: cannot be read as a video: `) && /Invalid data/.test(e.message));
  // A playlist saved as .mp4: ffmpeg would read it as HLS and open the files it lists; only video containers are read.
  const playlist = join(dir, 'playlist.mp4');
  writeFileSync(playlist, `#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1.0,\nfile://${clip}\n#EXT-X-ENDLIST\n`);
  await assert.rejects(detectVideo(model, playlist, { outDir: join(dir, 'out-playlist'), ffmpeg }), (e: Error) => e instanceof VideoReadError && e.message === `${playlist}: is not an MP4, MOV, WebM, Matroska or AVI file: ffmpeg reads it as hls, which is not decoded here`);
  await assert.rejects(
    detectVideo(model, clip, { outDir: join(dir, 'out-big'), maxPixels: 100_000, ffmpeg }),
    (e: Error) => e instanceof VideoReadError && e.message === `${clip}: video frames are 480x352 = 0.169 megapixels, above the limit of 0.1 megapixels; --max-pixels raises it`,
  );
  const blocked = join(dir, 'out-blocked');
  mkdirSync(join(blocked, 'pan.annotated.mp4'), { recursive: true }); // a folder where the video goes
  await assert.rejects(
    detectVideo(model, clip, { outDir: blocked, ffmpeg }),
    (e: Error) => e instanceof WriteError && e.file === join(blocked, 'pan.annotated.mp4') && /^cannot write the annotated video .*pan\.annotated\.mp4: .*; a folder of that name is in the way: move it, or give another --out$/.test(e.message),
  );
  assert.deepEqual(readdirSync(blocked), ['pan.annotated.mp4'], 'neither the JSON lines nor a temporary file are left');
});

test('ffmpeg: a path given, else the PATH, else the npm package; none is an error saying how to get one', () => {
  assert.throws(() => findFfmpeg({ searchPath: '', usePackage: false }), (e: Error) => e instanceof FfmpegNotFoundError && /decoding a video needs ffmpeg, and none was found: install it .*npm install @ffmpeg-installer\/ffmpeg.*--ffmpeg/.test(e.message));
  assert.throws(() => findFfmpeg({ path: join(dir, 'no-such-ffmpeg') }), /no-such-ffmpeg' is not an executable file/);
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'ffmpeg'), '#!/bin/sh\n', { mode: 0o755 });
  assert.deepEqual(findFfmpeg({ searchPath: `/nonexistent:${bin}` }), { path: join(bin, 'ffmpeg'), source: 'system' });
});

test('the frame passthrough option is chosen per binary: each ffmpeg here (the system\'s and the package\'s) decodes every frame of the clip with it', { skip }, async () => {
  const binaries: Ffmpeg[] = [];
  for (const usePackage of [false, true]) {
    try {
      binaries.push(findFfmpeg({ searchPath: usePackage ? '' : undefined, usePackage }));
    } catch (e) {
      if (!(e instanceof FfmpegNotFoundError)) throw e;
    }
  }
  for (const bin of binaries) {
    const args = await passthroughArgs(bin);
    assert.ok(['-fps_mode passthrough', '-vsync 0'].includes(args.join(' ')), `${bin.source}: ${args.join(' ')}`);
    const r = ffmpegSync(bin, ['-loglevel', 'error', '-i', clip, '-f', 'rawvideo', '-pix_fmt', 'rgb24', ...args, 'pipe:1']);
    assert.equal(r.status, 0, `${bin.source} ffmpeg with ${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout.length, N * W * H * 3, `${bin.source} ffmpeg: every frame, none duplicated or dropped`);
  }
});

test('parseVideoInfo reads ffmpeg 4 and 7 descriptions, and says when a file has no video stream', () => {
  const v4 = `Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'a.mp4':
  Duration: 00:01:02.50, start: 0.000000, bitrate: 67 kb/s
    Stream #0:0(und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, stereo, fltp, 128 kb/s (default)
    Stream #0:1(und): Video: h264 (High) (avc1 / 0x31637661), yuv420p, 1920x1080 [SAR 1:1 DAR 16:9], 58 kb/s, 29.97 fps, 29.97 tbr, 30k tbn, 59.94 tbc (default)`;
  assert.deepEqual(parseVideoInfo(v4, 'a.mp4'), { codec: 'h264', width: 1920, height: 1080, fps: 29.97, duration: 62.5 });
  const v7 = `Input #0, matroska,webm, from 'b.webm':
  Duration: N/A, start: 0.000000, bitrate: N/A
  Stream #0:0: Video: vp9 (Profile 0), yuv420p(tv, progressive), 640x360, SAR 1:1 DAR 16:9, 1k tbr, 1k tbn (default)`;
  assert.deepEqual(parseVideoInfo(v7, 'b.webm'), { codec: 'vp9', width: 640, height: 360, fps: undefined, duration: undefined });
  assert.throws(() => parseVideoInfo(`Input #0, wav, from 'c.mkv':\n  Duration: 00:00:01.00\n    Stream #0:0: Audio: pcm_s16le`, 'c.mkv'), /^VideoReadError: c\.mkv: has no video stream$/);
});
