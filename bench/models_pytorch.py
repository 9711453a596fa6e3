"""PyTorch side of bench/models.bench.ts: training images/second and inference latency of torchvision's
ssd300_vgg16 and ssdlite320_mobilenet_v3_large (the closest torchvision has to SSDLite-MobileNetV2), and of
ssd-tiny written out in PyTorch (the same layers as src/nn/models/ssd-tiny.ts).
Usage: /usr/bin/python3 bench/models_pytorch.py <model> <batch> <threads> <steps>; prints one JSON line."""
import json, sys, time
import torch, torch.nn as nn, torch.nn.functional as F

name, batch, threads, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)


def cbr(cin, cout, k, s=1, p=None):
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, (k - 1) // 2 if p is None else p, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class TinySSD(nn.Module):
    """ssd-tiny at 192 px: the same convolutions, maps 24, 12, 6, 4, 4 priors per position, 3x3 heads."""

    def __init__(self, k=6):
        super().__init__()
        self.k = k
        self.stages = nn.ModuleList([
            nn.Sequential(cbr(3, 16, 3, 2), cbr(16, 32, 3, 2), cbr(32, 64, 3, 2), cbr(64, 64, 3)),
            nn.Sequential(cbr(64, 128, 3, 2), cbr(128, 128, 3)),
            nn.Sequential(cbr(128, 64, 1), cbr(64, 128, 3, 2)),
            nn.Sequential(cbr(128, 64, 1), cbr(64, 128, 3, 1, 0)),
        ])
        chans = [64, 128, 128, 128]
        self.loc = nn.ModuleList([nn.Conv2d(c, 16, 3, padding=1) for c in chans])
        self.cls = nn.ModuleList([nn.Conv2d(c, 4 * k, 3, padding=1) for c in chans])

    def forward(self, x):
        locs, scores = [], []
        for s, l, c in zip(self.stages, self.loc, self.cls):
            x = s(x)
            locs.append(l(x).permute(0, 2, 3, 1).reshape(x.shape[0], -1, 4))
            scores.append(c(x).permute(0, 2, 3, 1).reshape(x.shape[0], -1, self.k))
        return torch.cat(locs, 1), torch.cat(scores, 1)


def multibox(locs, scores, tl, tc):
    """MultiBox loss with 3:1 hard negatives on given targets (what our training graph computes)."""
    pos = tc > 0
    n = pos.sum().clamp(min=1)
    ce = F.cross_entropy(scores.reshape(-1, scores.shape[-1]), tc.reshape(-1), reduction='none').reshape(tc.shape)
    neg = ce.detach().clone()
    neg[pos] = 0
    rank = neg.sort(1, descending=True)[1].sort(1)[1]
    hard = rank < 3 * pos.sum(1, keepdim=True)
    return (ce[pos].sum() + ce[hard].sum()) / n + F.l1_loss(locs[pos], tl[pos])


if name == 'ssd-tiny':
    model, size = TinySSD(), 192
    def train_step(opt, x):
        locs, scores = model(x)
        tc = torch.zeros(scores.shape[:2], dtype=torch.long)
        tc[:, ::50] = 1
        loss = multibox(locs, scores, torch.zeros_like(locs), tc)
        opt.zero_grad(); loss.backward(); opt.step()
    def infer(x):
        return model(x)
else:
    import torchvision
    from torchvision.models.detection import ssd300_vgg16, ssdlite320_mobilenet_v3_large
    if name == 'ssd300':
        model, size = ssd300_vgg16(weights=None, weights_backbone=None, num_classes=21), 300
    else:
        model, size = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=21), 320
    targets = [{'boxes': torch.tensor([[30.0, 40.0, 150.0, 200.0]]), 'labels': torch.tensor([3])} for _ in range(batch)]
    def train_step(opt, x):
        model.train()
        losses = model(list(x), targets)
        loss = sum(losses.values())
        opt.zero_grad(); loss.backward(); opt.step()
    def infer(x):
        model.eval()
        return model(list(x))

opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
x = torch.rand(batch, 3, size, size)
train_step(opt, x)
t = time.perf_counter()
for _ in range(steps):
    train_step(opt, x)
train_s = (time.perf_counter() - t) / steps
one = torch.rand(1, 3, size, size)
with torch.no_grad():
    infer(one)
    t = time.perf_counter()
    for _ in range(5):
        infer(one)
    infer_s = (time.perf_counter() - t) / 5
print(json.dumps({'model': name, 'torch': torch.__version__, 'batch': batch, 'threads': threads, 'train_images_per_s': batch / train_s, 'train_step_s': train_s, 'inference_s_per_image': infer_s}))
