#!/usr/bin/python3
"""Makes the COCO evaluation fixtures in test/fixtures/coco/: generated datasets scored by pycocotools' own COCOeval.

Usage (cocoapi is https://github.com/cocodataset/cocoapi, any checkout; nothing of it is copied here):
    /usr/bin/python3 scripts/coco-fixtures/make_coco_fixtures.py <cocoapi>/PythonAPI/pycocotools

It imports pycocotools' coco.py and cocoeval.py from that folder as they are. Their compiled `mask` module is not
built: its `iou` is replaced by `box_iou` below, maskApi.c's bbIou in numpy (same operations in the same order;
a crowd region's IoU is the intersection over the detection's area). matplotlib, which coco.py imports only to draw,
is stubbed, and numpy >= 1.24 gets back the `np.float` alias that COCOeval.accumulate uses.

For every set it writes <set>/instances.json (COCO ground truth), <set>/results.json (COCO results) and
<set>/expected.json: pycocotools' 12 summary numbers (COCOeval.stats), the lines summarize() printed, and the same 12
numbers per category (-1 where pycocotools has nothing to average). The generator is deterministic (fixed seeds).
"""
import argparse
import contextlib
import hashlib
import importlib.util
import io
import json
import os
import sys
import types

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'coco')


def box_iou(dt, gt, iscrowd):
    """pycocotools.mask.iou for [x, y, w, h] boxes: an (m, n) array, or [] when either side is empty."""
    if len(dt) == 0 or len(gt) == 0:
        return []
    d = np.asarray(dt, dtype=np.float64).reshape(-1, 4)
    g = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    crowd = np.asarray(iscrowd, dtype=bool).reshape(1, -1)
    da = (d[:, 2] * d[:, 3])[:, None]
    ga = (g[:, 2] * g[:, 3])[None, :]
    w = np.minimum(d[:, None, 2] + d[:, None, 0], g[None, :, 2] + g[None, :, 0]) - np.maximum(d[:, None, 0], g[None, :, 0])
    h = np.minimum(d[:, None, 3] + d[:, None, 1], g[None, :, 3] + g[None, :, 1]) - np.maximum(d[:, None, 1], g[None, :, 1])
    inter = w * h
    union = np.where(crowd, da + 0 * ga, da + ga - inter)
    return np.where((w > 0) & (h > 0), inter / np.where(union > 0, union, 1), 0.0)


def load_pycocotools(folder):
    for name in ('matplotlib', 'matplotlib.pyplot', 'matplotlib.collections', 'matplotlib.patches'):
        sys.modules[name] = types.ModuleType(name)
    sys.modules['matplotlib'].pyplot = sys.modules['matplotlib.pyplot']
    sys.modules['matplotlib.collections'].PatchCollection = None
    sys.modules['matplotlib.patches'].Polygon = None
    package = types.ModuleType('pycocotools')
    package.__path__ = [folder]
    sys.modules['pycocotools'] = package
    mask = types.ModuleType('pycocotools.mask')
    mask.iou = box_iou
    sys.modules['pycocotools.mask'] = mask
    package.mask = mask
    if not hasattr(np, 'float'):
        np.float = float
    loaded = {}
    for name in ('coco', 'cocoeval'):
        spec = importlib.util.spec_from_file_location(f'pycocotools.{name}', os.path.join(folder, f'{name}.py'))
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        loaded[name] = module
    return loaded['coco'].COCO, loaded['cocoeval'].COCOeval


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# Generated data. Coordinates have two decimals, as COCO's own annotations and typical results files do.

def r2(v):
    return float(round(float(v), 2))


class Builder:
    def __init__(self, categories):
        self.categories = [{'id': int(c), 'name': f'class{c}', 'supercategory': 'thing'} for c in categories]
        self.images, self.annotations, self.results = [], [], []

    def image(self, image_id, width, height):
        self.images.append({'id': int(image_id), 'file_name': f'{image_id}.jpg', 'width': int(width), 'height': int(height)})

    def ann(self, image_id, cat, box, iscrowd=0, area=None):
        x, y, w, h = (r2(v) for v in box)
        self.annotations.append({
            'id': len(self.annotations) + 1, 'image_id': int(image_id), 'category_id': int(cat), 'bbox': [x, y, w, h],
            'area': r2(w * h) if area is None else float(area), 'iscrowd': int(iscrowd),
        })
        return [x, y, w, h]

    def det(self, image_id, cat, box, score):
        self.results.append({'image_id': int(image_id), 'category_id': int(cat), 'bbox': [r2(v) for v in box], 'score': float(score)})

    def coco(self):
        return {'images': self.images, 'annotations': self.annotations, 'categories': self.categories}


def inside(box, width, height):
    """The box moved and shrunk to lie in the image (our reader refuses boxes more than 1 px outside)."""
    x, y, w, h = box
    w = min(max(w, 1.0), width)
    h = min(max(h, 1.0), height)
    x = min(max(x, 0.0), width - w)
    y = min(max(y, 0.0), height - h)
    return [x, y, w, h]


def random_box(rng, width, height, area_lo=64.0, area_hi=None):
    area_hi = area_hi or 0.5 * width * height
    area = np.exp(rng.uniform(np.log(area_lo), np.log(area_hi)))
    aspect = np.exp(rng.uniform(np.log(0.5), np.log(2.0)))
    w, h = np.sqrt(area * aspect), np.sqrt(area / aspect)
    return inside([rng.uniform(0, width - min(w, width)), rng.uniform(0, height - min(h, height)), w, h], width, height)


def jitter(rng, box, sigma, width, height):
    x, y, w, h = box
    x1, y1, x2, y2 = x + rng.normal(0, sigma * w), y + rng.normal(0, sigma * h), x + w + rng.normal(0, sigma * w), y + h + rng.normal(0, sigma * h)
    return inside([min(x1, x2), min(y1, y2), abs(x2 - x1), abs(y2 - y1)], width, height)


def detect(rng, b, image_id, cat, box, width, height, score_decimals=3, p_miss=0.15, p_dup=0.15, p_confuse=0.05, categories=None):
    """A noisy detector's output for one object: usually one box, sometimes a miss, a duplicate or a wrong class."""
    if rng.uniform() < p_miss:
        return
    sigma = rng.choice([0.02, 0.05, 0.1, 0.2])
    score = round(float(np.clip(0.95 - 2.5 * sigma + rng.normal(0, 0.15), 0.01, 0.999)), score_decimals)
    b.det(image_id, cat, jitter(rng, box, sigma, width, height), score)
    if rng.uniform() < p_dup:
        b.det(image_id, cat, jitter(rng, box, 0.15, width, height), round(score * rng.uniform(0.3, 1.0), score_decimals))
    if categories is not None and rng.uniform() < p_confuse:
        other = int(rng.choice([c for c in categories if c != cat]))
        b.det(image_id, other, jitter(rng, box, 0.05, width, height), round(score * rng.uniform(0.2, 0.9), score_decimals))


def false_positives(rng, b, image_id, categories, n, width, height, score_decimals=3):
    for _ in range(n):
        b.det(image_id, int(rng.choice(categories)), random_box(rng, width, height), round(float(rng.uniform(0.01, 0.7)), score_decimals))


def set_crowd():
    """Crowd regions (about 8% of the annotations) holding ordinary objects and many detections."""
    rng = np.random.RandomState(1)
    cats = [1, 2, 3, 4, 5, 6]
    b = Builder(cats)
    for image_id in range(1, 81):
        width, height = int(rng.randint(320, 641)), int(rng.randint(240, 481))
        b.image(image_id, width, height)
        for _ in range(int(rng.randint(2, 9))):
            cat = int(rng.choice(cats))
            box = b.ann(image_id, cat, random_box(rng, width, height), area=None)
            detect(rng, b, image_id, cat, box, width, height, categories=cats)
        if rng.uniform() < 0.5:
            cat = int(rng.choice(cats[:3]))
            cx, cy, cw, ch = random_box(rng, width, height, area_lo=0.1 * width * height, area_hi=0.5 * width * height)
            crowd = b.ann(image_id, cat, [cx, cy, cw, ch], iscrowd=1, area=r2(0.6 * cw * ch))
            # A few objects of the crowd are annotated one by one, as in COCO; detections fall inside the region.
            for _ in range(int(rng.randint(0, 3))):
                w, h = cw * rng.uniform(0.15, 0.4), ch * rng.uniform(0.2, 0.5)
                box = b.ann(image_id, cat, inside([cx + rng.uniform(0, cw - w), cy + rng.uniform(0, ch - h), w, h], width, height))
                detect(rng, b, image_id, cat, box, width, height)
            for _ in range(int(rng.randint(1, 7))):
                w, h = cw * rng.uniform(0.1, 0.5), ch * rng.uniform(0.1, 0.5)
                box = inside([crowd[0] + rng.uniform(-0.1, 1.0) * (cw - w), crowd[1] + rng.uniform(-0.1, 1.0) * (ch - h), w, h], width, height)
                b.det(image_id, cat, box, round(float(rng.uniform(0.05, 0.9)), 3))
        false_positives(rng, b, image_id, cats, int(rng.randint(0, 4)), width, height)
    return b, 'crowd regions (about 8% of annotations) with objects and detections inside them'


def set_empty():
    """Images without ground truth (with and without detections), a category never annotated but detected,
    one annotated but never detected, one neither."""
    rng = np.random.RandomState(2)
    cats = [1, 2, 3, 4, 5, 6, 7]
    b = Builder(cats)
    for image_id in range(1, 51):
        width, height = 480, 360
        b.image(image_id, width, height)
        kind = image_id % 4
        if kind == 0:  # no objects, some detections (all false positives)
            false_positives(rng, b, image_id, [1, 2, 3, 5], int(rng.randint(1, 5)), width, height)
            continue
        if kind == 1 and image_id % 8 == 1:  # no objects, no detections
            continue
        for _ in range(int(rng.randint(1, 6))):
            cat = int(rng.choice([1, 2, 3, 4]))
            box = b.ann(image_id, cat, random_box(rng, width, height))
            if cat != 4:  # category 4 is never detected
                detect(rng, b, image_id, cat, box, width, height, categories=[1, 2, 3])
        if rng.uniform() < 0.5:  # category 5 is never annotated, only detected
            b.det(image_id, 5, random_box(rng, width, height), round(float(rng.uniform(0.1, 0.9)), 3))
        if rng.uniform() < 0.2:  # an image whose objects get no detection at all
            b.results = [r for r in b.results if r['image_id'] != image_id]
    return b, 'images with no objects (with and without detections); categories 5 (detected, never annotated), 6 and 7 (neither) have no ground truth, 4 is never detected'


def set_sparse_ids():
    """Category ids with gaps (1, 3, 18, 44, 90), large image ids listed out of order, scores with 2 decimals."""
    rng = np.random.RandomState(3)
    cats = [1, 3, 18, 44, 90]
    b = Builder(cats)
    ids = rng.choice(np.arange(1, 600000), size=60, replace=False)
    for image_id in ids:
        width, height = int(rng.randint(300, 641)), int(rng.randint(300, 641))
        b.image(image_id, width, height)
        for _ in range(int(rng.randint(1, 7))):
            cat = int(rng.choice(cats))
            box = b.ann(image_id, cat, random_box(rng, width, height))
            detect(rng, b, image_id, cat, box, width, height, score_decimals=2, categories=cats)
        false_positives(rng, b, image_id, cats, int(rng.randint(0, 3)), width, height, score_decimals=2)
    # Results in a shuffled order: the evaluation must not depend on it beyond pycocotools' own tie rules.
    order = rng.permutation(len(b.results))
    b.results = [b.results[i] for i in order]
    return b, 'category ids 1, 3, 18, 44, 90; image ids up to 600000 in no order; scores rounded to 2 decimals; results shuffled'


def set_many_dets():
    """Over 100 detections per image and category, so maxDets 1, 10 and 100 all cut."""
    rng = np.random.RandomState(4)
    cats = [1, 2]
    b = Builder(cats)
    for image_id in range(1, 11):
        width, height = 640, 480
        b.image(image_id, width, height)
        for _ in range(int(rng.randint(20, 41))):
            cat = int(rng.choice(cats))
            box = b.ann(image_id, cat, random_box(rng, width, height, area_lo=100.0, area_hi=20000.0))
            detect(rng, b, image_id, cat, box, width, height, p_dup=0.5, categories=cats)
        for cat in cats:
            for _ in range(int(rng.randint(110, 160))):
                b.det(image_id, cat, random_box(rng, width, height, area_lo=100.0, area_hi=20000.0), round(float(rng.uniform(0.0, 0.8)), 4))
    return b, 'every image has 110-160 false positives of each category on top of the detections of its 20-40 objects'


def set_areas():
    """Objects small, medium and large; `area` (the segmentation's) differs from the box's, some exactly 32^2 or 96^2."""
    rng = np.random.RandomState(5)
    cats = [1, 2, 3]
    b = Builder(cats)
    for image_id in range(1, 61):
        width, height = 640, 640
        b.image(image_id, width, height)
        for _ in range(int(rng.randint(3, 10))):
            cat = int(rng.choice(cats))
            bucket = rng.randint(0, 4)
            if bucket == 0:
                lo, hi = 16.0, 1400.0  # around 32^2
            elif bucket == 1:
                lo, hi = 6000.0, 12000.0  # around 96^2
            else:
                lo, hi = 64.0, 0.4 * width * height
            box = random_box(rng, width, height, area_lo=lo, area_hi=hi)
            x, y, w, h = (r2(v) for v in box)
            u = rng.uniform()
            if u < 0.1:
                area = 1024.0
            elif u < 0.2:
                area = 9216.0
            else:
                area = r2(w * h * rng.uniform(0.5, 1.0))
            box = b.ann(image_id, cat, [x, y, w, h], area=area)
            detect(rng, b, image_id, cat, box, width, height, categories=cats)
        false_positives(rng, b, image_id, cats, int(rng.randint(0, 4)), width, height)
        # Small false positives, whose own area decides whether they count in each range.
        for _ in range(int(rng.randint(0, 3))):
            b.det(image_id, int(rng.choice(cats)), random_box(rng, width, height, area_lo=16.0, area_hi=12000.0), round(float(rng.uniform(0.05, 0.6)), 3))
    return b, 'objects around the 32^2 and 96^2 boundaries; area fields of 0.5-1.0 times the box, 1024 and 9216 exactly'


def set_ties():
    """Equal scores everywhere (one decimal), identical duplicate detections, identical ground-truth objects, and a
    detection exactly between two objects (equal IoU)."""
    rng = np.random.RandomState(6)
    cats = [1, 2, 3]
    b = Builder(cats)
    ids = [int(i) for i in rng.permutation(np.arange(100, 140))]
    for image_id in ids:
        width, height = 400, 300
        b.image(image_id, width, height)
        for _ in range(int(rng.randint(1, 6))):
            cat = int(rng.choice(cats))
            box = b.ann(image_id, cat, random_box(rng, width, height, area_lo=200.0))
            if rng.uniform() < 0.15:
                b.ann(image_id, cat, box)  # the same object annotated twice
            detect(rng, b, image_id, cat, box, width, height, score_decimals=1, p_dup=0.3, categories=cats)
            if rng.uniform() < 0.2 and b.results:
                b.results.append(dict(b.results[-1]))  # an identical detection, same score
        if rng.uniform() < 0.3:  # two objects side by side and a detection straddling both equally
            cat = int(rng.choice(cats))
            b.ann(image_id, cat, [100, 100, 40, 40])
            b.ann(image_id, cat, [140, 100, 40, 40])
            b.det(image_id, cat, [120, 100, 40, 40], 0.5)
            b.det(image_id, cat, [100, 100, 40, 40], 0.5)
        false_positives(rng, b, image_id, cats, int(rng.randint(0, 3)), width, height, score_decimals=1)
    return b, 'scores with one decimal (ties within and across images), identical duplicate detections and objects, equal-IoU ties'


SETS = {
    'crowd': set_crowd,
    'empty-images': set_empty,
    'sparse-ids': set_sparse_ids,
    'many-dets': set_many_dets,
    'areas': set_areas,
    'ties': set_ties,
}


def mean_valid(s):
    s = np.asarray(s)
    return float(np.mean(s[s > -1])) if np.any(s > -1) else -1.0


def twelve(E, k=None):
    """COCOeval.summarize's 12 numbers, over all categories or over category index k alone."""
    p = E.params
    prec, rec = E.eval['precision'], E.eval['recall']
    ks = slice(None) if k is None else slice(k, k + 1)
    t50 = int(np.where(p.iouThrs == 0.5)[0][0])
    t75 = int(np.where(p.iouThrs == 0.75)[0][0])
    ap = lambda a, m, t=slice(None): mean_valid(prec[t, :, ks, a, m])  # noqa: E731
    ar = lambda a, m: mean_valid(rec[:, ks, a, m])  # noqa: E731
    return [ap(0, 2), ap(0, 2, t50), ap(0, 2, t75), ap(1, 2), ap(2, 2), ap(3, 2), ar(0, 0), ar(0, 1), ar(0, 2), ar(1, 2), ar(2, 2), ar(3, 2)]


def evaluate(COCO, COCOeval, gt_file, res_file):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_file)
        dt = gt.loadRes(res_file)
        E = COCOeval(gt, dt, 'bbox')
        E.evaluate()
        E.accumulate()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        E.summarize()
    lines = [l for l in printed.getvalue().splitlines() if l.startswith(' Average')]
    return E, lines


def dump(path, value):
    with open(path, 'w') as f:
        json.dump(value, f, separators=(',', ':'))
        f.write('\n')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('pycocotools', help='the PythonAPI/pycocotools folder of a cocoapi checkout')
    parser.add_argument('--out', default=OUT)
    args = parser.parse_args()
    folder = os.path.abspath(args.pycocotools)
    COCO, COCOeval = load_pycocotools(folder)
    source = {name: sha256(os.path.join(folder, name)) for name in ('coco.py', 'cocoeval.py')}
    for name, make in SETS.items():
        b, description = make()
        where = os.path.join(args.out, name)
        os.makedirs(where, exist_ok=True)
        gt_file, res_file = os.path.join(where, 'instances.json'), os.path.join(where, 'results.json')
        dump(gt_file, b.coco())
        dump(res_file, b.results)
        E, lines = evaluate(COCO, COCOeval, gt_file, res_file)
        assert np.allclose(twelve(E), E.stats), 'twelve() must agree with summarize()'
        expected = {
            'set': name,
            'description': description,
            'made_by': 'scripts/coco-fixtures/make_coco_fixtures.py',
            'pycocotools_sha256': source,
            'images': len(b.images), 'annotations': len(b.annotations), 'crowd': sum(a['iscrowd'] for a in b.annotations), 'results': len(b.results),
            'stats': [float(v) for v in E.stats],
            'summary': lines,
            'categories': [{'id': int(c), 'stats': twelve(E, k)} for k, c in enumerate(E.params.catIds)],
        }
        with open(os.path.join(where, 'expected.json'), 'w') as f:
            json.dump(expected, f, indent=1)
            f.write('\n')
        print(f'{name}: {len(b.images)} images, {len(b.annotations)} annotations ({expected["crowd"]} crowd), {len(b.results)} results; AP {E.stats[0]:.4f} AP50 {E.stats[1]:.4f}')


if __name__ == '__main__':
    main()
