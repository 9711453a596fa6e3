// `ssd detect`: parses the flags and runs src/predict over images, folders and videos; prints progress and a summary.
import { basename, join, relative, resolve } from 'node:path';
import { loadDataset } from '../data/dataset.js';
import type { Dataset } from '../data/types.js';
import { SSD } from '../nn/model.js';
import { detectImages, type FailedInput } from '../predict/detect-images.js';
import { detectVideo, type VideoResult } from '../predict/detect-video.js';
import { findFfmpeg, FfmpegNotFoundError, type Ffmpeg } from '../predict/ffmpeg.js';
import { collectInputs, IMAGE_EXTENSIONS, InputPathError, VIDEO_EXTENSIONS, type Inputs } from '../predict/inputs.js';
import { checkOutDir, UnsafeOutDirError } from '../predict/out-dir.js';
import { OutputNames } from '../predict/output-names.js';
import type { DetectReport } from '../predict/report.js';
import { writeJsonFile } from '../predict/write-file.js';
import { detectionsToCocoResults, samplesOfFiles } from '../train/coco-results.js';
import { booleanFlag, intFlag, maxPixelsFlag, numberFlag, parseVerbArgs, stringFlag, type FlagSpec } from './args.js';
import { UsageError, type Command } from './command.js';
import { defaultEvalSplit } from './eval.js';
import { ProgressLine } from './progress-line.js';

const flags: FlagSpec = {
  weights: { type: 'string' },
  out: { type: 'string' },
  'min-score': { type: 'string' },
  'max-overlap': { type: 'string' },
  'top-k': { type: 'string' },
  suppress: { type: 'string' },
  batch: { type: 'string' },
  every: { type: 'string' },
  ffmpeg: { type: 'string' },
  threads: { type: 'string' },
  'max-pixels': { type: 'string' },
  coco: { type: 'boolean' },
  data: { type: 'string' },
  split: { type: 'string' },
};

const help = `usage: ssd detect --weights <model.safetensors> <images, videos or folders...> [options]
       ssd detect --weights <model.safetensors> --coco --data <dataset> [--split <name>] [images...] [options]

Detects objects and writes an annotated copy of every image (a box and a "class score" label per
object) plus one JSON file for the run into --out. Folders are searched recursively for images
(${[...IMAGE_EXTENSIONS].join(' ')}) and videos (${[...VIDEO_EXTENSIONS].join(' ')}); links are followed but never
twice into one folder; entries that cannot be used (a dangling link, a loop, a name that is not UTF-8,
a FIFO or device, a file without read permission) are named and skipped, as are images that cannot be
decoded. --out must lie outside the input folders.

Videos are decoded with ffmpeg (the system's, else the one of the npm package @ffmpeg-installer/ffmpeg):
for each, <name>.detections.jsonl holds one line per frame detected, {"frame", "time" (seconds),
"detections"}, and <name>.annotated.mp4 every frame with the boxes of the latest frame detected.

options:
  --weights <file>      model file (safetensors written by ssd train / ssd import)   [required]
  --out <dir>           output folder, outside the inputs                 (default runs/detect)
  --min-score <p>       keep a box when its class probability is above p  (default 0.2)
  --max-overlap <iou>   NMS: drop a box overlapping a better one of its class more than this (default 0.45)
  --top-k <n>           at most n detections per image or frame         (default 200)
  --suppress <a,b>      class names (or indices) never reported
  --batch <n>           images run together                             (default 4)
  --every <n>           videos: detect on every n-th frame (0, n, 2n, ...) (default 1: every frame)
  --ffmpeg <path>       videos: the ffmpeg binary to use                (default: ffmpeg on the PATH, else
                        the npm package's)
  --coco                write COCO results (coco_results.json: [{image_id, category_id, bbox [x,y,w,h], score}])
                        instead of detections.json: the file ssd eval --detections and pycocotools read
  --data <dataset>      with --coco: name images and classes as this dataset does (Pascal VOC root, COCO
                        instances .json or YOLO data.yaml): image_id is the COCO image id, or the VOC / YOLO
                        file stem as a string ("000361"); category_id the COCO category id (1..90 with gaps),
                        or the 1-based index in the dataset's class list; model classes match the dataset's
                        by name. Without images named, every image of the split is detected
  --split <name>        the split of --data (default: VOC test, YOLO val)
  --threads <n>         ONNX Runtime threads                            (default: all cores)
  --max-pixels <MP>     largest image or video frame read, in megapixels, judged from its header
                        before decoding; larger ones are reported and skipped  (default 40)

Without --data, --coco names an image by its file stem (a number when all digits, as COCO's
000000397133.jpg -> 397133) and a class by the model's class index. For mAP, detect with
--min-score 0.01 (as ssd eval does); pycocotools keeps the 100 best of each image and class.

JSON (detections.json): {weights, classNames, options, images: [{file, annotated, width, height,
detections: [{label, classIndex, score, box: {xmin, ymin, xmax, ymax}}]}], videos: [{file, detections,
annotated, width, height, fps, frames, detected, every, objects}], failed: [{file, error}],
skipped: [{path, reason}]}; boxes in pixels of the image or frame as displayed (EXIF orientation or
the video's rotation applied).
Exit code 0 when every input was processed, 1 when some failed (listed on stderr and in the JSON).

examples
  ssd detect --weights runs/voc/best.safetensors photos/ street.jpg --out runs/detect --min-score 0.3
  ssd detect --weights runs/voc/best.safetensors traffic.mp4 --every 5 --out runs/traffic
  ssd detect --weights model.safetensors --coco --data coco/annotations/instances_val2017.json --min-score 0.01 --out runs/val`;

/**
 * The inputs named on the command line, or the images of --data's split (checked to be the dataset's), with the
 * output folder outside them.
 */
function inputsOf(positionals: readonly string[], outDir: string, coco: boolean, dataset: { data: Dataset; what: string } | undefined): Inputs {
  let inputs: Inputs;
  try {
    // Named paths before the walk (which leaves the output folder out); a dataset's images as listed.
    if (positionals.length > 0) {
      checkOutDir(outDir, positionals);
      inputs = collectInputs(positionals, { exclude: outDir });
    } else {
      inputs = { images: dataset!.data.samples.map((s) => s.imagePath), videos: [], skipped: [] };
      checkOutDir(outDir, inputs.images);
    }
  } catch (e) {
    if (e instanceof InputPathError || e instanceof UnsafeOutDirError) throw new UsageError(`ssd detect: ${e.message}`);
    throw e;
  }
  if (inputs.images.length + inputs.videos.length === 0) {
    const why = inputs.skipped.length > 0 ? ` (${inputs.skipped.length} entr${inputs.skipped.length === 1 ? 'y' : 'ies'} skipped: ${inputs.skipped.map((s) => `${s.path}: ${s.reason}`).join('; ')})` : '';
    throw new UsageError(`ssd detect: no images or videos found in ${positionals.length > 0 ? positionals.join(', ') : dataset!.what}${why}`);
  }
  if (coco && inputs.videos.length > 0) throw new UsageError(`ssd detect: --coco writes results of images; ${inputs.videos[0]} is a video`);
  if (dataset !== undefined) samplesOfFiles(inputs.images, dataset.data, dataset.what);
  return inputs;
}

export const command: Command = {
  name: 'detect',
  summary: 'detect objects in images and videos; write annotated copies and a JSON file',
  help,
  flags,
  async run(argv: string[]): Promise<number> {
    const args = parseVerbArgs('detect', argv, flags);
    const weights = stringFlag(args, 'weights');
    if (!weights) throw new UsageError('ssd detect: --weights <model file> is required (see ssd detect --help)');
    const data = stringFlag(args, 'data');
    const coco = booleanFlag(args, 'coco');
    if (data !== undefined && !coco) throw new UsageError('ssd detect: --data names the dataset whose image and category ids --coco writes; add --coco');
    if (stringFlag(args, 'split') !== undefined && data === undefined) throw new UsageError('ssd detect: --split needs --data <dataset>');
    if (args.positionals.length === 0 && data === undefined) throw new UsageError('ssd detect: name at least one image, video or folder (see ssd detect --help)');
    const minScore = numberFlag('detect', 'min-score', stringFlag(args, 'min-score'), 0.2, 0, 0.999999);
    const maxOverlap = numberFlag('detect', 'max-overlap', stringFlag(args, 'max-overlap'), 0.45, 0, 1);
    const topK = intFlag('detect', 'top-k', stringFlag(args, 'top-k'), 200, 1);
    const batch = intFlag('detect', 'batch', stringFlag(args, 'batch'), 4, 1, 256);
    const every = intFlag('detect', 'every', stringFlag(args, 'every'), 1, 1, 1_000_000);
    const threadsFlag = stringFlag(args, 'threads');
    const threads = threadsFlag === undefined ? undefined : intFlag('detect', 'threads', threadsFlag, 0, 1, 1024);
    const maxPixels = maxPixelsFlag('detect', args);
    const suppressText = stringFlag(args, 'suppress');
    const suppress = suppressText ? suppressText.split(',').map((s) => s.trim()).filter(Boolean).map((s) => (/^\d+$/.test(s) ? Number(s) : s)) : [];
    const outDir = resolve(stringFlag(args, 'out') ?? join('runs', 'detect'));
    let dataset: { data: Dataset; what: string } | undefined;
    if (data !== undefined) {
      const split = stringFlag(args, 'split') ?? defaultEvalSplit(data);
      dataset = { data: await loadDataset(data, { split }), what: `${data}${split !== undefined ? ` (${split})` : ''}` };
    }
    const { images: files, videos, skipped } = inputsOf(args.positionals, outDir, coco, dataset);
    let ffmpeg: Ffmpeg | undefined;
    if (videos.length > 0) {
      try {
        ffmpeg = findFfmpeg({ path: stringFlag(args, 'ffmpeg') });
      } catch (e) {
        if (e instanceof FfmpegNotFoundError) throw new Error(`${videos[0]} is a video: ${e.message}`);
        throw e;
      }
    }
    for (const s of skipped) console.error(`ssd detect: skipped ${s.path}: ${s.reason}`);

    const model = await SSD.load(weights, threads === undefined ? {} : { threads });
    for (const s of suppress) {
      const ok = typeof s === 'number' ? s >= 1 && s < model.classNames.length : model.classNames.includes(s);
      if (!ok) throw new UsageError(`ssd detect: --suppress names unknown class '${s}'; the model's classes: ${model.classNames.slice(1).join(', ')}`);
    }
    const jsonFile = join(outDir, coco ? 'coco_results.json' : 'detections.json');
    const names = new OutputNames();
    names.reserve(basename(jsonFile));
    // What images and videos share: the folder, the names taken in it, the limit and the post-processing.
    const common = { outDir, names, ...(maxPixels === undefined ? {} : { maxPixels }), minScore, maxOverlap, topK, suppress };
    const t0 = Date.now();
    try {
      const failed: FailedInput[] = [];
      let images: DetectReport['images'] = [];
      if (files.length > 0) {
        const progress = new ProgressLine('detect', files.length);
        const done = await detectImages(model, files, {
          ...common,
          batch,
          onImage: (file, err) => {
            if (err) progress.log(`ssd detect: skipped ${err.message}`);
            progress.tick(1, basename(file));
          },
        });
        progress.finish();
        images = done.images;
        failed.push(...done.failed);
      }
      const videoResults: VideoResult[] = [];
      for (const file of videos) {
        let progress: ProgressLine | undefined;
        try {
          videoResults.push(
            await detectVideo(model, file, {
              ...common,
              every,
              ffmpeg: ffmpeg!,
              onFrame: (_done, estimated) => {
                progress ??= new ProgressLine(basename(file), estimated, process.stderr, 'frame');
                progress.tick(1);
              },
            }),
          );
          progress?.finish(true);
        } catch (e) {
          progress?.finish();
          const msg = (e as Error).message;
          failed.push({ file, error: msg.includes(file) ? msg : `${file}: ${msg}` });
        }
      }
      if (coco) {
        const { results, dropped } = detectionsToCocoResults(images, model.classNames, dataset);
        writeJsonFile(jsonFile, results, 'the COCO results file');
        if (dropped.size > 0) {
          const list = [...dropped].map(([name, n]) => `${name} (${n})`).join(', ');
          console.error(`ssd detect: left out of ${basename(jsonFile)}: detections of classes ${dataset!.what} does not have: ${list}`);
        }
      } else {
        const report: DetectReport = { weights, classNames: model.classNames, options: { minScore, maxOverlap, topK, suppress }, images, ...(videos.length > 0 ? { videos: videoResults } : {}), failed, skipped };
        writeJsonFile(jsonFile, report, 'the run\'s results file');
      }
      console.error(summary(images, videoResults, (Date.now() - t0) / 1000, basename(jsonFile), relative(process.cwd(), outDir) || '.'));
      if (failed.length) {
        console.error(`ssd detect: ${failed.length} file${failed.length === 1 ? '' : 's'} failed:`);
        for (const f of failed) console.error(`  ${f.error}`);
        return 1;
      }
      return 0;
    } finally {
      await model.dispose();
    }
  },
};

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The last line: what was detected, how fast, and where the files are. */
function summary(images: DetectReport['images'], videos: readonly VideoResult[], secs: number, jsonName: string, where: string): string {
  const parts: string[] = [];
  if (images.length > 0 || videos.length === 0) {
    const n = images.reduce((a, b) => a + b.detections.length, 0);
    parts.push(`${plural(images.length, 'image')}, ${plural(n, 'detection')}`);
  }
  if (videos.length > 0) {
    const frames = videos.reduce((a, v) => a + v.frames, 0);
    const n = videos.reduce((a, v) => a + v.objects, 0);
    parts.push(`${plural(videos.length, 'video')} (${plural(frames, 'frame')}, ${videos.reduce((a, v) => a + v.detected, 0)} detected), ${plural(n, 'detection')}`);
  }
  const rate = videos.length > 0 && images.length === 0 ? `${(videos.reduce((a, v) => a + v.frames, 0) / Math.max(secs, 1e-9)).toFixed(2)} frames/s` : `${(images.length / Math.max(secs, 1e-9)).toFixed(2)} img/s`;
  return `ssd detect: ${parts.join('; ')} in ${secs.toFixed(1)} s (${rate}); annotated copies and ${jsonName} in ${where}`;
}
