// Running a model over files (`ssd-ts/predict`): the images and videos that paths name, found safely; detection over
// images with annotated copies, and over videos with ffmpeg (JSON lines and an annotated MP4); the run's JSON file.
export { collectImages, collectInputs, IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, InputPathError } from './inputs.js';
export type { CollectOptions, Inputs, SkippedPath } from './inputs.js';
export { checkOutDir, realPathOf, UnsafeOutDirError } from './out-dir.js';
export { detectImages } from './detect-images.js';
export type { DetectImagesOptions, FailedInput, ImageResult } from './detect-images.js';
export { detectVideo } from './detect-video.js';
export type { DetectVideoOptions, FrameDetections, VideoResult } from './detect-video.js';
export { detectionJson } from './detection-json.js';
export type { DetectionJson } from './detection-json.js';
export type { DetectReport } from './report.js';
export { OutputNames } from './output-names.js';
export { findFfmpeg, FfmpegNotFoundError } from './ffmpeg.js';
export type { Ffmpeg, FindFfmpegOptions } from './ffmpeg.js';
export { probeVideo, parseVideoInfo, VideoReadError } from './video-probe.js';
export type { VideoInfo } from './video-probe.js';
export { VideoDecoder } from './video-decoder.js';
export type { DecodedFrame, VideoDecoderOptions } from './video-decoder.js';
export { VideoEncoder } from './video-encoder.js';
export type { VideoEncoderOptions } from './video-encoder.js';
export { LineFile, WriteError, writeJsonFile } from './write-file.js';
