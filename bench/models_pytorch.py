"""PyTorch side of bench/models.bench.ts, bench/twin-parity.ts and bench/profile-step.ts.

Models, each as the network alone: images (N, 3, S, S) -> locs (N, P, 4), scores (N, P, K):
  ssd-tiny                       exact twin of src/nn/models/ssd-tiny.ts (same layers, names, BN epsilon)
  ssdlite320-mobilenetv2         exact twin of src/nn/models/ssdlite.ts: torchvision's mobilenet_v2
                                 features split as ours, the same four extra blocks and depthwise-separable heads
  ssdlite320_mobilenet_v3_large  torchvision's SSDLite-MobileNetV3 (backbone + head; a related network, not a twin)
  ssd300                         torchvision's ssd300_vgg16 (backbone + head)
State_dict keys of the twins are our parameter names, so our weights load by name.

A training step is what our training graph computes: forward, the MultiBox loss on given targets (`multibox`,
src/nn/loss.ts: cross-entropy over positives and the 3 n_pos hardest negatives per image, mean L1 over the
positives' offsets, both over the batch's positives) and backward, then SGD (momentum 0.9, weight decay 5e-4,
biases at twice the base rate). torchvision's own training path (its transform, anchor matching in Python, its
loss) is not timed: ours matches outside the step too.

Usage (each prints one JSON line):
  models_pytorch.py time <model> [--batches 8,32] [--threads 2] [--steps 3] [--classes 21]
  models_pytorch.py check <model> <file.safetensors> [--classes 21]
  models_pytorch.py profile <model> [--batch 8] [--threads 2] [--classes 21]
`check` reads our weights, an input batch, targets and our outputs from the file (bench/twin-parity.ts writes it)
and compares; `profile` runs torch.profiler over one training step after a warm-up and sums self CPU time per op.
"""
import argparse, json, struct, time
from functools import partial

import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F

# ---------------------------------------------------------------------------------------------- the networks


def cbr(cin, cout, k, s=1, p=None, eps=1e-5, momentum=0.1, groups=1, act=nn.ReLU):
    """Conv (no bias) + BN + activation, numbered 0, 1, 2 as torchvision's Conv2dNormActivation and our ConvBnAct."""
    pad = (k - 1) // 2 if p is None else p
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, pad, groups=groups, bias=False), nn.BatchNorm2d(cout, eps=eps, momentum=momentum), act(inplace=True))


def flatten(y, k):
    """(N, A*k, H, W) -> (N, H*W*A, k), as our heads (and torchvision's) lay out the priors."""
    return y.permute(0, 2, 3, 1).reshape(y.shape[0], -1, k)


class TinySSD(nn.Module):
    """ssd-tiny: ten conv-BN-ReLU layers (eps 1e-5), maps after conv3_2, conv4_2, conv5_2, conv6_2, 3x3 heads with bias."""

    def __init__(self, classes=21, size=192, per_position=4):
        super().__init__()
        self.k = classes
        b = nn.Module()
        b.stem = cbr(3, 16, 3, 2)
        b.conv2 = cbr(16, 32, 3, 2)
        b.conv3_1 = cbr(32, 64, 3, 2)
        b.conv3_2 = cbr(64, 64, 3)
        b.conv4_1 = cbr(64, 128, 3, 2)
        b.conv4_2 = cbr(128, 128, 3)
        b.conv5_1 = cbr(128, 64, 1)
        b.conv5_2 = cbr(64, 128, 3, 2)
        b.conv6_1 = cbr(128, 64, 1)
        b.conv6_2 = cbr(64, 128, 3 if size // 32 >= 3 else size // 32, 1, 0)
        self.backbone = b
        self.stages = [['stem', 'conv2', 'conv3_1', 'conv3_2'], ['conv4_1', 'conv4_2'], ['conv5_1', 'conv5_2'], ['conv6_1', 'conv6_2']]
        h = nn.Module()
        for name, c in zip(['conv3_2', 'conv4_2', 'conv5_2', 'conv6_2'], [64, 128, 128, 128]):
            setattr(h, f'loc_{name}', nn.Conv2d(c, per_position * 4, 3, padding=1))
            setattr(h, f'cl_{name}', nn.Conv2d(c, per_position * classes, 3, padding=1))
        self.head = h

    def forward(self, x):
        maps = []
        for stage in self.stages:
            for name in stage:
                x = getattr(self.backbone, name)(x)
            maps.append((stage[-1], x))
        locs = [flatten(getattr(self.head, f'loc_{n}')(m), 4) for n, m in maps]
        scores = [flatten(getattr(self.head, f'cl_{n}')(m), self.k) for n, m in maps]
        return torch.cat(locs, 1), torch.cat(scores, 1)


class SSDLiteMobileNetV2(nn.Module):
    """SSDLite320-MobileNetV2 as src/nn/models/ssdlite.ts builds it: torchvision's mobilenet_v2 features (its own
    batch norm, eps 1e-5), maps at the C4 block's expansion (stride 16) and the last 1280-channel layer (stride 32),
    four extra blocks (1x1, depthwise 3x3 stride 2, 1x1; BN + ReLU6 each), and per map and task a depthwise 3x3 +
    BN + ReLU6 then a 1x1 conv with bias (BN eps 1e-3, momentum 0.03 as torchvision's SSDLite); 6 priors a position."""

    def __init__(self, classes=21, per_position=6):
        super().__init__()
        from torchvision.models import mobilenet_v2
        from torchvision.models.detection.ssdlite import _extra_block, _prediction_block

        norm = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.03)
        self.k = classes
        features = mobilenet_v2(weights=None).features
        stride, self.c4 = 2, None
        for i in range(1, len(features) - 1):
            stride *= features[i].stride
            if stride == 32:
                self.c4 = i
                break
        self.backbone = nn.Module()
        self.backbone.features = features
        depths = [512, 256, 256, 128]
        cins = [features[-1].out_channels] + depths[:-1]
        self.backbone.extra = nn.ModuleList([_extra_block(a, b, norm) for a, b in zip(cins, depths)])
        channels = [features[self.c4].conv[0].out_channels, features[-1].out_channels] + depths
        self.head = nn.Module()
        self.head.regression = nn.ModuleList([_prediction_block(c, per_position * 4, 3, norm) for c in channels])
        self.head.classification = nn.ModuleList([_prediction_block(c, per_position * classes, 3, norm) for c in channels])

    def forward(self, x):
        f = self.backbone.features
        x = f[: self.c4](x)
        expanded = f[self.c4].conv[0](x)  # the C4 block has stride 2: no residual
        x = f[self.c4 + 1 :](f[self.c4].conv[1:](expanded))
        maps = [expanded, x]
        for block in self.backbone.extra:
            x = block(x)
            maps.append(x)
        locs = [flatten(h(m), 4) for h, m in zip(self.head.regression, maps)]
        scores = [flatten(h(m), self.k) for h, m in zip(self.head.classification, maps)]
        return torch.cat(locs, 1), torch.cat(scores, 1)


class TorchvisionSSD(nn.Module):
    """A torchvision SSD's backbone and head alone: no transform, no anchor matching, no post-processing."""

    def __init__(self, detector):
        super().__init__()
        self.backbone = detector.backbone
        self.head = detector.head

    def forward(self, x):
        out = self.head(list(self.backbone(x).values()))
        return out['bbox_regression'], out['cls_logits']


def build(name, classes):
    """(network, input side)."""
    if name == 'ssd-tiny':
        return TinySSD(classes), 192
    if name == 'ssdlite320-mobilenetv2':
        return SSDLiteMobileNetV2(classes), 320
    from torchvision.models.detection import ssd300_vgg16, ssdlite320_mobilenet_v3_large

    if name == 'ssdlite320_mobilenet_v3_large':
        return TorchvisionSSD(ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=classes)), 320
    if name == 'ssd300':
        return TorchvisionSSD(ssd300_vgg16(weights=None, weights_backbone=None, num_classes=classes)), 300
    raise SystemExit(f'models_pytorch.py: unknown model {name!r}')


# ---------------------------------------------------------------------------------------------- loss, step


def multibox(locs, scores, tl, tc, ratio=3):
    """Our MultiBox loss (src/nn/loss.ts, 'l1-mean'): returns (loss, conf, loc, positives)."""
    pos = tc > 0
    neg = ~pos
    posf = pos.to(locs.dtype)
    n_pos = posf.sum(1, keepdim=True)
    positives = posf.sum()
    denom = positives.clamp(min=1)
    loc = ((locs - tl).abs() * posf.unsqueeze(2)).sum() / (denom * 4)
    ce = F.cross_entropy(scores.reshape(-1, scores.shape[-1]), tc.reshape(-1), reduction='none').reshape(tc.shape)
    neg_ce = ce.detach() * neg
    order = neg_ce.sort(1, descending=True)[1]
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(tc.shape[1]).expand_as(order))
    hard = (rank < ratio * n_pos) & neg
    conf = (ce * (posf + hard.to(ce.dtype))).sum() / denom
    return conf + loc, conf, loc, positives


def sgd(model, lr=1e-4):
    """SGD with momentum 0.9 and weight decay 5e-4; biases at twice the base rate (our StepSession's defaults)."""
    named = list(model.named_parameters())
    weights = [p for n, p in named if not n.endswith('.bias')]
    biases = [p for n, p in named if n.endswith('.bias')]
    return torch.optim.SGD([{'params': weights, 'lr': lr}, {'params': biases, 'lr': 2 * lr}], lr=lr, momentum=0.9, weight_decay=5e-4)


def synthetic_targets(batch, priors, classes, gen):
    """Every 50th prior positive with a random class and random offsets (the loss costs the same whatever they are)."""
    tc = torch.zeros(batch, priors, dtype=torch.long)
    tc[:, ::50] = torch.randint(1, classes, tc[:, ::50].shape, generator=gen)
    return tc, torch.randn(batch, priors, 4, generator=gen) * 0.5


def counts(model):
    """Trainable parameters, and BN buffers (running mean and variance; num_batches_tracked is not a tensor we hold)."""
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for n, b in model.named_buffers() if n.endswith('running_mean') or n.endswith('running_var'))
    return params, buffers


# ---------------------------------------------------------------------------------------------- commands


def time_model(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model, size = build(a.model, a.classes)
    params, buffers = counts(model)
    with torch.no_grad():
        priors = model.eval()(torch.zeros(1, 3, size, size))[0].shape[1]
    train = {}
    for batch in [int(b) for b in a.batches.split(',')]:
        model.train()
        opt = sgd(model)
        x = torch.rand(batch, 3, size, size, generator=gen) - 0.45
        tc, tl = synthetic_targets(batch, priors, a.classes, gen)

        def step():
            locs, scores = model(x)
            loss = multibox(locs, scores, tl, tc)[0]
            opt.zero_grad()
            loss.backward()
            opt.step()

        for _ in range(a.warmup):
            step()
        t = time.perf_counter()
        for _ in range(a.steps):
            step()
        s = (time.perf_counter() - t) / a.steps
        train[str(batch)] = {'train_images_per_s': batch / s, 'train_step_s': s}
        del opt
    model.eval()
    one = torch.rand(1, 3, size, size, generator=gen) - 0.45
    with torch.no_grad():
        model(one)
        t = time.perf_counter()
        for _ in range(5):
            model(one)
        infer = (time.perf_counter() - t) / 5
    print(json.dumps({'model': a.model, 'torch': torch.__version__, 'threads': a.threads, 'parameters': params, 'buffers': buffers, 'priors': priors, 'train': train, 'inference_s_per_image': infer}))


def read_safetensors(path):
    """The tensors of a safetensors file (F32, I64) as torch tensors; the header is ours, so it is trusted."""
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    types = {'F32': np.float32, 'I64': np.int64}
    out = {}
    for k, v in header.items():
        if k == '__metadata__':
            continue
        b, e = v['data_offsets']
        out[k] = torch.from_numpy(np.frombuffer(data[b:e], dtype=types[v['dtype']]).reshape(v['shape']).copy())
    return out


def rel_l2(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def check(a):
    torch.set_num_threads(2)
    t = read_safetensors(a.file)
    model, _ = build(a.model, a.classes)
    state = {k[len('weights.') :]: v for k, v in t.items() if k.startswith('weights.')}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith('num_batches_tracked')]
    params, buffers = counts(model)
    model.eval()
    with torch.no_grad():
        locs, scores = model(t['images'])
    model.train()
    with torch.no_grad():
        train_locs, train_scores = model(t['images'])
        loss, conf, loc, positives = multibox(train_locs, train_scores, t['true_offsets'], t['true_classes'])
    print(json.dumps({
        'model': a.model,
        'parameters': params,
        'buffers': buffers,
        'missing': missing,
        'unexpected': list(unexpected),
        'priors': locs.shape[1],
        'eval_locs_rel_l2': rel_l2(t['locs'], locs),
        'eval_scores_rel_l2': rel_l2(t['scores'], scores),
        'train_loss': {'ours': t['loss'].item(), 'pytorch': loss.item(), 'conf_ours': t['conf_loss'].item(), 'conf_pytorch': conf.item(),
                       'loc_ours': t['loc_loss'].item(), 'loc_pytorch': loc.item(), 'positives_ours': t['positives'].item(), 'positives_pytorch': positives.item()},
    }))


AUTOGRAD_FUNCTION = 'autograd::engine::evaluate_function: '


def profile(a):
    """torch.profiler over one training step after --warmup steps: self CPU time per op, the top op it ran under and the
    phase (forward, loss, backward, optimizer; a phase's own self time is the Python between its ops), and the
    phases timed without the profiler."""
    from torch.profiler import ProfilerActivity, profile as torch_profile, record_function

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model, size = build(a.model, a.classes)
    opt = sgd(model)
    x = torch.rand(a.batch, 3, size, size, generator=gen) - 0.45
    with torch.no_grad():
        priors = model.eval()(x[:1])[0].shape[1]
    model.train()
    tc, tl = synthetic_targets(a.batch, priors, a.classes, gen)
    phases = ['forward', 'loss', 'backward', 'optimizer']
    times = {}

    def step():
        t = [time.perf_counter()]
        with record_function('forward'):
            locs, scores = model(x)
        t.append(time.perf_counter())
        with record_function('loss'):
            loss = multibox(locs, scores, tl, tc)[0]
        t.append(time.perf_counter())
        with record_function('backward'):
            opt.zero_grad()
            loss.backward()
        t.append(time.perf_counter())
        with record_function('optimizer'):
            opt.step()
        t.append(time.perf_counter())
        times.update({p: t[i + 1] - t[i] for i, p in enumerate(phases)}, step=t[-1] - t[0])

    for _ in range(a.warmup):
        step()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    totals = {}
    for e in prof.events():
        # The phase (the record_function around it) and the top op: the outermost op below the phase, or in the
        # backward pass the autograd function it runs in (ConvolutionBackward0, ...).
        phase, top, p, below = 'other', None, e, None
        while p is not None:
            if p.name in phases:
                phase = p.name
                break
            if p.name.startswith(AUTOGRAD_FUNCTION):
                phase, top = 'backward', p.name[len(AUTOGRAD_FUNCTION) :]
            below, p = p, p.cpu_parent
        op = '(python between ops)' if e.name in phases else e.name
        top = top or (below.name if below is not None else op)
        k = (op, top, phase)
        c, ms = totals.get(k, (0, 0.0))
        totals[k] = (c + 1, ms + e.self_cpu_time_total / 1000)
    ops = [{'op': k[0], 'top': k[1], 'phase': k[2], 'calls': c, 'self_ms': ms} for k, (c, ms) in totals.items()]
    ops.sort(key=lambda o: -o['self_ms'])
    step()  # phase times from a step without the profiler, whose cost per op call is not the step's
    print(json.dumps({'model': a.model, 'torch': torch.__version__, 'batch': a.batch, 'threads': a.threads, 'phases_s': times,
                      'self_ms_total': sum(o['self_ms'] for o in ops), 'ops': ops}))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = p.add_subparsers(dest='command', required=True)
    t = sub.add_parser('time')
    t.add_argument('model')
    t.add_argument('--batches', default='8')
    t.add_argument('--threads', type=int, default=2)
    t.add_argument('--steps', type=int, default=3)
    t.add_argument('--warmup', type=int, default=1)
    t.add_argument('--classes', type=int, default=21)
    c = sub.add_parser('check')
    c.add_argument('model')
    c.add_argument('file')
    c.add_argument('--classes', type=int, default=21)
    f = sub.add_parser('profile')
    f.add_argument('model')
    f.add_argument('--warmup', type=int, default=1)
    f.add_argument('--batch', type=int, default=8)
    f.add_argument('--threads', type=int, default=2)
    f.add_argument('--classes', type=int, default=21)
    a = p.parse_args()
    {'time': time_model, 'check': check, 'profile': profile}[a.command](a)


if __name__ == '__main__':
    main()
