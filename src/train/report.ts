/**
 * The run report: `report.html` in the run folder, one self-contained page (inline SVG, no scripts)
 * with the loss curves, the learning rate, the mAP over time, and, from the latest evaluation,
 * AP per class and the precision-recall curve of every class.
 */
import { renameSync, writeFileSync } from 'node:fs';
import type { Evaluation } from '../eval/types.js';
import type { EvalRecord, MetricsRecord, StepRecord } from './metrics-log.js';
import { barChart, downsample, escapeXml, lineChart, PALETTE } from './svg.js';

/** What the report shows. */
export interface ReportInput {
  /** Page title, e.g. the run folder's name. */
  title: string;
  /** The metrics log's records (steps and evaluations). */
  records: readonly MetricsRecord[];
  /** The latest (or best) evaluation, with its precision-recall curves; omitted when none ran. */
  evaluation?: Evaluation;
  /** Which step the evaluation is of (shown in headings). */
  evaluationStep?: number;
  /** Key facts of the run (model, data, batch, ...), shown as a table. */
  facts?: Record<string, string | number>;
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Builds the report page as an HTML string. */
export function renderReport(input: ReportInput): string {
  const steps = input.records.filter((r): r is StepRecord => r.type === 'step');
  const evals = input.records.filter((r): r is EvalRecord => r.type === 'eval');
  const parts: string[] = [];
  parts.push(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeXml(input.title)}</title>`);
  parts.push('<style>body{font-family:sans-serif;max-width:1320px;margin:24px auto;padding:0 16px;color:#222}' +
    'h1{font-size:22px}h2{font-size:17px;margin-top:28px}table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}' +
    '.grid{display:flex;flex-wrap:wrap;gap:8px}.muted{color:#777}</style></head><body>');
  parts.push(`<h1>${escapeXml(input.title)}</h1>`);

  const summary: Record<string, string | number> = { ...(input.facts ?? {}) };
  if (steps.length) {
    const last = steps[steps.length - 1]!;
    summary['steps'] = last.step;
    summary['final loss (mean of last 10 steps)'] = mean(steps.slice(-10).map((s) => s.loss)).toFixed(4);
    summary['images / s (mean)'] = mean(steps.map((s) => s.images_per_s)).toFixed(2);
  }
  if (evals.length) {
    const best = evals.reduce((a, b) => (b.map > a.map ? b : a));
    summary['best mAP'] = `${best.map.toFixed(4)} (${best.metric}, step ${best.step})`;
  }
  if (Object.keys(summary).length) {
    parts.push('<table>');
    for (const [k, v] of Object.entries(summary)) parts.push(`<tr><th>${escapeXml(k)}</th><td>${escapeXml(String(v))}</td></tr>`);
    parts.push('</table>');
  }

  parts.push('<h2>Training loss</h2>');
  if (steps.length) {
    const x = steps.map((s) => s.step);
    const series = (['loss', 'loc_loss', 'conf_loss'] as const).map((key, k) => {
      const d = downsample(x, steps.map((s) => s[key]));
      return { name: key, x: d.x, y: d.y, color: PALETTE[k] };
    });
    parts.push('<div class="grid">');
    parts.push(lineChart(series, { title: 'Loss (bucket means)', xLabel: 'step', yLabel: 'loss' }));
    const lr = downsample(x, steps.map((s) => s.lr));
    parts.push(lineChart([{ name: 'lr', x: lr.x, y: lr.y, color: PALETTE[4] }], { title: 'Learning rate (base; biases x2)', xLabel: 'step', yLabel: 'lr' }));
    parts.push('</div>');
  } else {
    parts.push('<p class="muted">No steps logged yet.</p>');
  }

  parts.push('<h2>mAP over time</h2>');
  if (evals.length) {
    parts.push(lineChart([{ name: `mAP (${evals[0]!.metric})`, x: evals.map((e) => e.step), y: evals.map((e) => e.map), dots: true }], {
      title: 'Validation mAP',
      xLabel: 'step',
      yLabel: 'mAP',
      yRange: [0, Math.max(0.1, ...evals.map((e) => e.map))],
    }));
  } else {
    parts.push('<p class="muted">No evaluation ran (use --eval-every with a validation split).</p>');
  }

  const ev = input.evaluation;
  const lastEval = evals[evals.length - 1];
  if (!ev && lastEval) {
    // A resumed run knows earlier evaluations from the log only: their AP per class, not their curves.
    const names = Object.keys(lastEval.ap_per_class);
    parts.push(`<h2>AP per class at step ${lastEval.step} (${escapeXml(lastEval.metric)}, mAP ${lastEval.map.toFixed(4)})</h2>`);
    parts.push(barChart(names, names.map((n) => lastEval.ap_per_class[n] ?? null), { title: `AP per class (${lastEval.metric})` }));
    parts.push('<p class="muted">Precision-recall curves appear after the next evaluation of this run.</p>');
  }
  if (ev) {
    const at = input.evaluationStep !== undefined ? ` at step ${input.evaluationStep}` : '';
    parts.push(`<h2>AP per class${escapeXml(at)} (${escapeXml(ev.metric)}, mAP ${ev.map === null ? 'n/a' : ev.map.toFixed(4)})</h2>`);
    parts.push(barChart(ev.classNames, ev.apPerClass, { title: `AP per class (${ev.metric})` }));
    parts.push(`<h2>Precision-recall curves${escapeXml(at)}</h2><div class="grid">`);
    ev.classNames.forEach((name, c) => {
      const curve = ev.curves[c];
      if (!curve) return;
      const ap = ev.apPerClass[c];
      parts.push(lineChart([{ name, x: curve.recall, y: curve.precision, color: PALETTE[c % PALETTE.length] }], {
        title: `${name} (AP ${ap === null || ap === undefined ? 'n/a' : ap.toFixed(3)})`,
        xLabel: 'recall',
        yLabel: 'precision',
        width: 300,
        height: 240,
        xRange: [0, 1],
        yRange: [0, 1],
        legend: false,
      }));
    });
    parts.push('</div>');
  }
  parts.push(`<p class="muted">Generated ${escapeXml(new Date().toISOString())} by ssd-ts.</p></body></html>`);
  return parts.join('\n');
}

/** Writes the report to `path` (temporary file + rename, so a browser never sees half a page). */
export function writeReport(path: string, input: ReportInput): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, renderReport(input));
  renameSync(tmp, path);
}
