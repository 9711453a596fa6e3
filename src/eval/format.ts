// A plain-text table of an evaluation, for the CLI and logs.
import type { Evaluation } from './types.js';

const pct = (v: number | null): string => (v === null ? '     -' : (100 * v).toFixed(2).padStart(6));

/**
 * One line per class (name, AP in percent, ground-truth and detection counts; '-' where the class
 * has no ground truth), then the mean. For 'coco', AP50 and AP75 columns too.
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
  return lines.join('\n');
}
