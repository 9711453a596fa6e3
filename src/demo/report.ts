// The demo's report: the training report page (src/train/report.ts: loss curves, AP per class, PR curves) with
// the annotated test scenes added.
import { renameSync, writeFileSync } from 'node:fs';
import { renderReport, type ReportInput } from '../train/report.js';

/** The report's content: the training report's, plus annotated images (paths relative to the report). */
export interface DemoReportInput extends ReportInput {
  images: string[];
}

const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The page as HTML. */
export function renderDemoReport(input: DemoReportInput): string {
  const page = renderReport(input);
  const figures = input.images.map((src) => `<figure style="margin:0"><img src="${escape(src)}" alt="${escape(src)}" style="max-width:300px"><figcaption class="muted">${escape(src)}</figcaption></figure>`);
  const section = `<h2>Detections on held-out scenes (score &ge; 0.3)</h2>\n<div class="grid">${figures.join('\n')}</div>\n`;
  const at = page.lastIndexOf('<p class="muted">Generated');
  return at < 0 ? page.replace('</body>', `${section}</body>`) : page.slice(0, at) + section + page.slice(at);
}

/** Writes the report atomically. */
export function writeDemoReport(path: string, input: DemoReportInput): void {
  writeFileSync(`${path}.tmp`, renderDemoReport(input));
  renameSync(`${path}.tmp`, path);
}
