// Jaccard overlap of two boxes picked out of flat `[xmin, ymin, xmax, ymax]` arrays. Kept local to
// eval so evaluation depends on nothing else; scale-free, no "+1 pixel" widths (as the reference).

/**
 * IoU of box `i` of `a` and box `j` of `b`, in [0, 1]; 0 when both boxes have zero area, and 0 when
 * either box is inverted (xmax < xmin or ymax < ymin: the overlap width or height is then negative).
 */
export function boxIou(a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number): number {
  const p = 4 * i;
  const q = 4 * j;
  const ax1 = a[p], ay1 = a[p + 1], ax2 = a[p + 2], ay2 = a[p + 3];
  const bx1 = b[q], by1 = b[q + 1], bx2 = b[q + 2], by2 = b[q + 3];
  const w = Math.min(ax2, bx2) - Math.max(ax1, bx1);
  if (w <= 0) return 0;
  const h = Math.min(ay2, by2) - Math.max(ay1, by1);
  if (h <= 0) return 0;
  const inter = w * h;
  const union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter;
  return union > 0 ? inter / union : 0;
}
