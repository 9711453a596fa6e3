// A plain-text table of an evaluation, for the CLI and logs; for 'coco', pycocotools' summary lines too.
import type { CocoEvaluation, CocoSummary, Evaluation } from './types.js';

const pct = (v: number | null): string => (v === null ? '     -' : (100 * v).toFixed(2).padStart(6));

/**
 * One line per class (name, AP in percent, ground-truth and detection counts; '-' where the class
 * has no ground truth), then the mean. For 'coco', AP50 and AP75 columns, and then the 12 summary
 * lines as pycocotools' COCOeval.summarize() prints them.
 */
export function formatEvaluation(result: Evaluation): string {
  const width = Math.max(5, ...result.classNames.map((n) => n.length));
  const coco = result.metric === 'coco' ? result : null;
  const head = `${'class'.padEnd(width)}     AP${coco ? '   AP50   AP75' : ''}     gt   dets`;
  const lines = [head];
  for (let i = 0; i < result.classNames.length; i++) {
    const extra = coco ? ` ${pct(coco.ap50PerClass[i])} ${pct(coco.ap75PerClass[i])}` : '';
    lines.push(
      `${result.classNames[i].padEnd(width)} ${pct(result.apPerClass[i])}${extra} ${String(result.numGroundTruth[i]).padStart(6)} ${String(result.numDetections[i]).padStart(6)}`,
    );
  }
  const label = result.metric === 'coco' ? 'mAP@[.5:.95]' : result.metric === 'voc07' ? 'mAP (VOC07 11-point)' : 'mAP (VOC all-point)';
  lines.push(`${label}: ${pct(result.map).trim()}${coco ? `  mAP50: ${pct(coco.map50).trim()}  mAP75: ${pct(coco.map75).trim()}` : ''}`);
  if (coco) lines.push('', ...cocoSummaryLines(coco.summary, coco.maxDetsSteps, coco.iouThresholds));
  return lines.join('\n');
}

/**
 * `v` with 3 decimals as Python's '{:0.3f}' writes it: exact halves (j/16 for odd j, the only binary
 * fractions that end in 5 at the 4th decimal) round to the even digit, where toFixed rounds up.
 */
function pythonFixed3(v: number): string {
  const s = v.toFixed(3);
  const half = Number.isInteger(v * 16) && !Number.isInteger(v * 8);
  if (!half || Number(s[s.length - 1]) % 2 === 0) return s;
  return (Number(s) - Math.sign(v) * 0.001).toFixed(3);
}

/** The line pycocotools prints: ' {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}' (-1 for nothing). */
function summaryLine(ap: boolean, iou: string, area: string, maxDets: number, value: number | null): string {
  const title = (ap ? 'Average Precision' : 'Average Recall').padEnd(18);
  const v = value ?? -1;
  return ` ${title} ${ap ? '(AP)' : '(AR)'} @[ IoU=${iou.padEnd(9)} | area=${area.padStart(6)} | maxDets=${String(maxDets).padStart(3)} ] = ${pythonFixed3(v)}`;
}

/**
 * pycocotools' 12 summary lines for `summary`, e.g.
 * ` Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.250`.
 */
export function cocoSummaryLines(
  summary: CocoSummary,
  maxDetsSteps: CocoEvaluation['maxDetsSteps'] = [1, 10, 100],
  iouThresholds: readonly number[] = [0.5, 0.95],
): string[] {
  const [m1, m10, m100] = maxDetsSteps;
  const range = `${iouThresholds[0].toFixed(2)}:${iouThresholds[iouThresholds.length - 1].toFixed(2)}`;
  return [
    summaryLine(true, range, 'all', m100, summary.ap),
    summaryLine(true, '0.50', 'all', m100, summary.ap50),
    summaryLine(true, '0.75', 'all', m100, summary.ap75),
    summaryLine(true, range, 'small', m100, summary.apSmall),
    summaryLine(true, range, 'medium', m100, summary.apMedium),
    summaryLine(true, range, 'large', m100, summary.apLarge),
    summaryLine(false, range, 'all', m1, summary.ar1),
    summaryLine(false, range, 'all', m10, summary.ar10),
    summaryLine(false, range, 'all', m100, summary.ar100),
    summaryLine(false, range, 'small', m100, summary.arSmall),
    summaryLine(false, range, 'medium', m100, summary.arMedium),
    summaryLine(false, range, 'large', m100, summary.arLarge),
  ];
}
