#!/usr/bin/python3
"""Makes the MobileNetV2 files in test/fixtures/torch/ that test/nn/import/mobilenet-v2.test.ts reads.

Run with Debian's PyTorch (`apt-get install -y python3-torch python3-torchvision`):
    /usr/bin/python3 scripts/make-mobilenet-fixtures.py
torchvision's own `mobilenet_v2` at width 0.1 (so every file stays under half a megabyte), random weights, and batch
norm running statistics that are real: measured over random batches in training mode, as an ImageNet model has
them, so the features keep a sensible scale through 52 batch norms. Its state_dict is saved as `torch.save` writes
it by default (zip) and in the legacy format (`_use_new_zipfile_serialization=False`): the same keys, dtypes and
layout as `torch.save(torchvision.models.mobilenet_v2(weights='IMAGENET1K_V1').state_dict(), 'mobilenet_v2.pth')`.
The expected outputs of `features` on a fixed input are computed here, by torchvision's forward pass.
"""
import os

import torch
import torchvision

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'torch')
os.makedirs(OUT, exist_ok=True)
WIDTH = 0.1


def path(name):
    return os.path.join(OUT, name)


torch.manual_seed(0)
model = torchvision.models.mobilenet_v2(width_mult=WIDTH, num_classes=10)
with torch.no_grad():
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0.0, 0.2)
            m.momentum = None  # cumulative averages over the batches below
            m.reset_running_stats()
    model.train()
    for _ in range(8):
        model(torch.randn(4, 3, 64, 64))
model.eval()

state = model.state_dict()
torch.save(state, path('mobilenet_v2_w0.1.pth'))
torch.save(state, path('mobilenet_v2_w0.1_legacy.pth'), _use_new_zipfile_serialization=False)

# Expected outputs: SSDLite predicts on the expansion (conv.0) of the first stride-32 block, features.14, and on
# the output of the whole `features`.
x = torch.randn(2, 3, 64, 64)
with torch.no_grad():
    f = model.features
    c4 = f[14].conv[0](f[:14](x))
    out = f(x)
    # How much the batch-norm epsilon matters here: the same forward with SSDLite's 1e-3 instead of
    # torchvision MobileNetV2's 1e-5 (the test's tolerance must be far below this).
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eps = 1e-3
    other = f(x)
torch.save({'input': x, 'c4_expansion': c4, 'features': out}, path('mobilenet_v2_w0.1_forward.pth'))

print('features: shape %s, mean |y| %.4f; with eps 1e-3 instead of 1e-5 the output moves by %.2e (max abs)' %
      (tuple(out.shape), out.abs().mean().item(), (other - out).abs().max().item()))
print('c4 expansion: shape %s' % (tuple(c4.shape),))
print('%d tensors, %d of them running statistics' % (len(state), sum(1 for k in state if 'running' in k)))
for name in ['mobilenet_v2_w0.1.pth', 'mobilenet_v2_w0.1_legacy.pth', 'mobilenet_v2_w0.1_forward.pth']:
    print('%-40s %7d bytes' % (name, os.path.getsize(path(name))))
