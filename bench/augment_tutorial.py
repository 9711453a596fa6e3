# The PyTorch SSD300 tutorial's transform (utils.py of sgrvinod/a-PyTorch-Tutorial-to-Object-Detection:
# photometric_distort, expand, random_crop, flip, resize, normalise), timed on one image, one thread.
# Run by bench/augment.bench.ts for the side-by-side figure:  python3 bench/augment_tutorial.py <image> <n>
# Prints one JSON object: milliseconds per image for the training and the evaluation transform (best
# of 5 rounds; wall-clock, and CPU time under cpu_ms).
import json, random, sys, time
import torch
import torchvision.transforms.functional as FT
from PIL import Image

torch.set_num_threads(1)
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def jaccard(a, b):
    lo = torch.max(a[:, None, :2], b[None, :, :2])
    hi = torch.min(a[:, None, 2:], b[None, :, 2:])
    inter = (hi - lo).clamp(min=0).prod(2)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def expand(image, boxes, filler):
    h, w = image.size(1), image.size(2)
    scale = random.uniform(1, 4)
    nh, nw = int(scale * h), int(scale * w)
    new = torch.ones((3, nh, nw), dtype=torch.float) * torch.FloatTensor(filler)[:, None, None]
    left, top = random.randint(0, nw - w), random.randint(0, nh - h)
    new[:, top:top + h, left:left + w] = image
    return new, boxes + torch.FloatTensor([left, top, left, top])[None]


def random_crop(image, boxes, labels):
    h, w = image.size(1), image.size(2)
    while True:
        min_overlap = random.choice([0., .1, .3, .5, .7, .9, None])
        if min_overlap is None:
            return image, boxes, labels
        for _ in range(50):
            nh, nw = int(random.uniform(0.3, 1) * h), int(random.uniform(0.3, 1) * w)
            if not 0.5 < nh / nw < 2:
                continue
            left, top = random.randint(0, w - nw), random.randint(0, h - nh)
            crop = torch.FloatTensor([left, top, left + nw, top + nh])
            if jaccard(crop[None], boxes)[0].max().item() < min_overlap:
                continue
            c = (boxes[:, :2] + boxes[:, 2:]) / 2.
            inside = (c[:, 0] > left) * (c[:, 0] < left + nw) * (c[:, 1] > top) * (c[:, 1] < top + nh)
            if not inside.any():
                continue
            nb = boxes[inside]
            nb[:, :2] = torch.max(nb[:, :2], crop[:2]) - crop[:2]
            nb[:, 2:] = torch.min(nb[:, 2:], crop[2:]) - crop[:2]
            return image[:, top:top + nh, left:left + nw], nb, labels[inside]


def photometric_distort(image):
    ops = [FT.adjust_brightness, FT.adjust_contrast, FT.adjust_saturation, FT.adjust_hue]
    random.shuffle(ops)
    for d in ops:
        if random.random() < 0.5:
            f = random.uniform(-18 / 255., 18 / 255.) if d is FT.adjust_hue else random.uniform(0.5, 1.5)
            image = d(image, f)
    return image


def transform(image, boxes, labels, train):
    if train:
        image = FT.to_tensor(photometric_distort(image))
        if random.random() < 0.5:
            image, boxes = expand(image, boxes, MEAN)
        image, boxes, labels = random_crop(image, boxes, labels)
        image = FT.to_pil_image(image)
        if random.random() < 0.5:
            image = FT.hflip(image)
            boxes = torch.stack([image.width - boxes[:, 2] - 1, boxes[:, 1], image.width - boxes[:, 0] - 1, boxes[:, 3]], 1)
    dims = torch.FloatTensor([image.width, image.height, image.width, image.height])[None]
    image = FT.resize(image, (300, 300))
    return FT.normalize(FT.to_tensor(image), mean=MEAN, std=STD), boxes / dims, labels


path, n = sys.argv[1], int(sys.argv[2])
img = Image.open(path).convert('RGB')
boxes = torch.FloatTensor([[20, 30, 200, 300], [250, 80, 480, 360], [100, 100, 160, 170]])
labels = torch.LongTensor([1, 2, 3])
random.seed(0)
out, cpu = {}, {}
for name, train in [('train_ms', True), ('eval_ms', False)]:
    for _ in range(5):
        transform(img, boxes.clone(), labels, train)
    best = float('inf')
    for _ in range(5):  # best of 5 rounds, as the TypeScript side measures
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            transform(img, boxes.clone(), labels, train)
        best = min(best, (time.perf_counter() - t0) / n)
        cpu[name] = min(cpu.get(name, float('inf')), (time.process_time() - c0) / n)
    out[name] = round(best * 1000, 2)
out['cpu_ms'] = {k: round(v * 1000, 2) for k, v in cpu.items()}
print(json.dumps(out))
