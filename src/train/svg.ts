/**
 * Small, dependency-free SVG charts for the training report: line charts (loss curves, mAP over time,
 * precision-recall curves) and horizontal bar charts (AP per class). Each function returns one
 * `<svg>` element as a string, sized in CSS pixels, with its own axes, ticks and legend.
 */

/** One line of a line chart. */
export interface Series {
  name: string;
  /** x values (increasing). */
  x: ArrayLike<number>;
  /** y values, same length as x; non-finite values break the line. */
  y: ArrayLike<number>;
  /** CSS colour; default from the palette by position. */
  color?: string;
  /** Draw a dot at each point (for short series such as evaluations). Default false. */
  dots?: boolean;
  /** Line opacity. Default 1. */
  opacity?: number;
}

/** Options of {@link lineChart}. */
export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
  /** Fixed axis ranges; default: the data's range (y from 0 when all values are >= 0). */
  xRange?: [number, number];
  yRange?: [number, number];
  /** Show the legend. Default true when there are several series. */
  legend?: boolean;
}

/** A qualitative palette (Tableau 10), colour-blind friendly enough for a handful of lines. */
export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

/** Escapes text for SVG/HTML content and attributes. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** About `count` round tick values covering [lo, hi] (1, 2, 5 times a power of ten apart). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  // d3's rule: the power of ten below the raw step, times 1, 2, 5 or 10, whichever is nearest (geometrically).
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const err = raw / mag;
  const step = mag * (err >= Math.sqrt(50) ? 10 : err >= Math.sqrt(10) ? 5 : err >= Math.sqrt(2) ? 2 : 1);
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

function fmtTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(0);
  if (a >= 1000) return `${Number((v / 1000).toPrecision(3))}k`;
  return String(Number(v.toPrecision(3)));
}

function range(values: ArrayLike<number>[], fromZero: boolean): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const arr of values) {
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i]!;
      if (!Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  if (lo === Infinity) return [0, 1];
  if (fromZero && lo >= 0) lo = 0;
  if (hi === lo) {
    // A single value (one evaluation so far): centre it in a small range rather than pin it to an edge.
    const half = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    return fromZero && lo === 0 ? [0, half] : [lo - half, hi + half];
  }
  return [lo, hi];
}

/** A line chart as one `<svg>` string. */
export function lineChart(series: readonly Series[], opts: LineChartOptions): string {
  const W = opts.width ?? 640;
  const H = opts.height ?? 320;
  const m = { left: 56, right: 16, top: 28, bottom: 42 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const [x0, x1] = opts.xRange ?? range(series.map((s) => s.x), false);
  const [y0, y1] = opts.yRange ?? range(series.map((s) => s.y), true);
  const sx = (x: number) => m.left + ((x - x0) / (x1 - x0 || 1)) * pw;
  const sy = (y: number) => m.top + ph - ((y - y0) / (y1 - y0 || 1)) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  out.push(`<text x="${W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(opts.title)}</text>`);
  // Grid and ticks.
  for (const t of niceTicks(y0, y1)) {
    const y = sy(t).toFixed(1);
    out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmtTick(t)}</text>`);
  }
  for (const t of niceTicks(x0, x1, 6)) {
    const x = sx(t).toFixed(1);
    out.push(`<line x1="${x}" x2="${x}" y1="${m.top}" y2="${m.top + ph}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${x}" y="${m.top + ph + 14}" text-anchor="middle">${fmtTick(t)}</text>`);
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  out.push(`<text x="${m.left + pw / 2}" y="${H - 6}" text-anchor="middle">${escapeXml(opts.xLabel)}</text>`);
  out.push(`<text transform="translate(12 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(opts.yLabel)}</text>`);
  // Lines.
  series.forEach((s, k) => {
    const color = s.color ?? PALETTE[k % PALETTE.length]!;
    let d = '';
    let pen = false;
    const dots: string[] = [];
    for (let i = 0; i < s.x.length; i++) {
      const x = s.x[i]!;
      const y = s.y[i]!;
      if (!Number.isFinite(x) || !Number.isFinite(y)) {
        pen = false;
        continue;
      }
      const px = sx(x).toFixed(1);
      const py = sy(Math.min(Math.max(y, y0), y1)).toFixed(1);
      d += `${pen ? 'L' : 'M'}${px} ${py}`;
      pen = true;
      if (s.dots) dots.push(`<circle cx="${px}" cy="${py}" r="3" fill="${color}"/>`);
    }
    if (d) out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5" stroke-opacity="${s.opacity ?? 1}"><title>${escapeXml(s.name)}</title></path>`);
    out.push(...dots);
  });
  // Legend.
  if (opts.legend ?? series.length > 1) {
    series.forEach((s, k) => {
      const color = s.color ?? PALETTE[k % PALETTE.length]!;
      const y = m.top + 10 + 14 * k;
      out.push(`<rect x="${m.left + pw - 130}" y="${y - 5}" width="12" height="3" fill="${color}"/>`);
      out.push(`<text x="${m.left + pw - 114}" y="${y}" dominant-baseline="middle">${escapeXml(s.name)}</text>`);
    });
  }
  out.push('</svg>');
  return out.join('\n');
}

/** Options of {@link barChart}. */
export interface BarChartOptions {
  title: string;
  /** Axis range of the values. Default [0, 1] (AP). */
  range?: [number, number];
  width?: number;
}

/** A horizontal bar chart (one bar per label, value printed at its end; null draws "n/a") as one `<svg>` string. */
export function barChart(labels: readonly string[], values: readonly (number | null)[], opts: BarChartOptions): string {
  const W = opts.width ?? 640;
  const bar = 16;
  const gap = 4;
  const m = { left: 130, right: 56, top: 28, bottom: 24 };
  const H = m.top + m.bottom + labels.length * (bar + gap);
  const pw = W - m.left - m.right;
  const [v0, v1] = opts.range ?? [0, 1];
  const sx = (v: number) => m.left + ((Math.min(Math.max(v, v0), v1) - v0) / (v1 - v0)) * pw;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  out.push(`<text x="${W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(opts.title)}</text>`);
  for (const t of niceTicks(v0, v1)) {
    const x = sx(t).toFixed(1);
    out.push(`<line x1="${x}" x2="${x}" y1="${m.top}" y2="${H - m.bottom}" stroke="#eee"/>`);
    out.push(`<text x="${x}" y="${H - m.bottom + 14}" text-anchor="middle">${fmtTick(t)}</text>`);
  }
  labels.forEach((label, i) => {
    const y = m.top + i * (bar + gap);
    const v = values[i];
    out.push(`<text x="${m.left - 6}" y="${y + bar / 2}" text-anchor="end" dominant-baseline="middle">${escapeXml(label)}</text>`);
    if (v === null || v === undefined || !Number.isFinite(v)) {
      out.push(`<text x="${m.left + 4}" y="${y + bar / 2}" dominant-baseline="middle" fill="#999">n/a</text>`);
      return;
    }
    const w = Math.max(0, sx(v) - m.left);
    out.push(`<rect x="${m.left}" y="${y}" width="${w.toFixed(1)}" height="${bar}" fill="${PALETTE[0]}"><title>${escapeXml(label)}: ${v.toFixed(4)}</title></rect>`);
    out.push(`<text x="${(m.left + w + 4).toFixed(1)}" y="${y + bar / 2}" dominant-baseline="middle">${v.toFixed(3)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/**
 * Reduces a long series to at most `maxPoints` points by averaging consecutive buckets (x: bucket mean),
 * so a 120k-step loss curve stays a few kilobytes of SVG.
 */
export function downsample(x: ArrayLike<number>, y: ArrayLike<number>, maxPoints = 800): { x: Float64Array; y: Float64Array } {
  const n = x.length;
  const buckets = Math.min(n, maxPoints);
  const ox = new Float64Array(buckets);
  const oy = new Float64Array(buckets);
  for (let b = 0; b < buckets; b++) {
    const i0 = Math.floor((b * n) / buckets);
    const i1 = Math.floor(((b + 1) * n) / buckets);
    let sx = 0;
    let sy = 0;
    let c = 0;
    for (let i = i0; i < i1; i++) {
      if (!Number.isFinite(y[i]!)) continue;
      sx += x[i]!;
      sy += y[i]!;
      c++;
    }
    ox[b] = c ? sx / c : x[i0]!;
    oy[b] = c ? sy / c : NaN;
  }
  return { x: ox, y: oy };
}
