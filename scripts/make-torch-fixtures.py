#!/usr/bin/python3
"""Makes the small PyTorch files in test/fixtures/torch/ that test/io/*.test.ts read.

Run with Debian's PyTorch (`apt-get install -y python3-torch python3-torchvision`):
    /usr/bin/python3 scripts/make-torch-fixtures.py
Every tensor is tiny (kilobytes in all): the files keep the real key names and layouts of the tutorial's
checkpoint, SSD300 state_dicts, torchvision's vgg16 and ssd300_vgg16, with channel counts shrunk by the rule
`tiny(c) = max(2, c // 128)` (input channels 3 and head outputs kept as the architecture computes them).
Values are `arange`-based so the tests can state what they expect. Hostile files run nothing when made: their
payloads are built by __reduce__ and would only run in an unpickler that calls globals.
"""
import io
import os
import pickle
import sys
import types
import zipfile
from collections import OrderedDict

import torch
import torch.nn as nn
import torchvision

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'torch')
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)


def tiny(c):
    return max(2, c // 128)


def path(name):
    return os.path.join(OUT, name)


def save(obj, name, legacy=False):
    torch.save(obj, path(name), _use_new_zipfile_serialization=not legacy)


def filled(shape, start=0.0, scale=0.01):
    """Values start + scale * (0, 1, 2, ...) in row-major order: the tests recompute them from the shape."""
    n = 1
    for d in shape:
        n *= d
    return (start + scale * torch.arange(n, dtype=torch.float32)).reshape(shape)


# ---- 1. Tensors of every dtype, with strides and storage offsets --------------------------------------------
def tensor_cases():
    a = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    return OrderedDict([
        ('contiguous', a),
        ('transposed', a.t()),  # strides (1, 4)
        ('sliced', a[1:, 1:3]),  # storage offset 5, strides (4, 1), shares a's storage
        ('half', torch.tensor([1.0, -2.0, 0.5, 65504.0, 2.0 ** -24, 0.333251953125], dtype=torch.float16)),
        ('bfloat16', torch.tensor([1.0, -3.140625], dtype=torch.bfloat16)),
        ('double', torch.tensor([0.1, -1e10], dtype=torch.float64)),
        ('long', torch.tensor([-2, 0, 2 ** 40], dtype=torch.int64)),
        ('int', torch.tensor([[-7, 8]], dtype=torch.int32)),
        ('short', torch.tensor([-300], dtype=torch.int16)),
        ('byte', torch.tensor([0, 255], dtype=torch.uint8)),
        ('bool', torch.tensor([True, False, True])),
        ('scalar', torch.tensor(3.5)),
        ('empty', torch.zeros(0, 3)),
        ('parameter', nn.Parameter(torch.tensor([1.5, 2.5]))),
        ('nested', {'epoch': 7, 'name': 'ssd', 'ratio': 0.25, 'flags': [True, None], 'pair': (1, 'two')}),
    ])


save(tensor_cases(), 'tensors_zip.pth')
save(tensor_cases(), 'tensors_legacy.pth', legacy=True)


# ---- 2. The tutorial's SSD300 classes, tiny, in a module named `model` as in the tutorial ----------------------
model = types.ModuleType('model')
sys.modules['model'] = model
BOXES = OrderedDict([('conv4_3', 4), ('conv7', 6), ('conv8_2', 6), ('conv9_2', 6), ('conv10_2', 4), ('conv11_2', 4)])


class VGGBase(nn.Module):
    def __init__(self):
        super().__init__()
        c64, c128, c256, c512, c1024 = tiny(64), tiny(128), tiny(256), tiny(512), tiny(1024)
        self.conv1_1 = nn.Conv2d(3, c64, 3, padding=1)
        self.conv1_2 = nn.Conv2d(c64, c64, 3, padding=1)
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2_1 = nn.Conv2d(c64, c128, 3, padding=1)
        self.conv2_2 = nn.Conv2d(c128, c128, 3, padding=1)
        self.pool2 = nn.MaxPool2d(2, 2)
        self.conv3_1 = nn.Conv2d(c128, c256, 3, padding=1)
        self.conv3_2 = nn.Conv2d(c256, c256, 3, padding=1)
        self.conv3_3 = nn.Conv2d(c256, c256, 3, padding=1)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4_1 = nn.Conv2d(c256, c512, 3, padding=1)
        self.conv4_2 = nn.Conv2d(c512, c512, 3, padding=1)
        self.conv4_3 = nn.Conv2d(c512, c512, 3, padding=1)
        self.pool4 = nn.MaxPool2d(2, 2)
        self.conv5_1 = nn.Conv2d(c512, c512, 3, padding=1)
        self.conv5_2 = nn.Conv2d(c512, c512, 3, padding=1)
        self.conv5_3 = nn.Conv2d(c512, c512, 3, padding=1)
        self.pool5 = nn.MaxPool2d(3, 1, padding=1)
        self.conv6 = nn.Conv2d(c512, c1024, 3, padding=6, dilation=6)
        self.conv7 = nn.Conv2d(c1024, c1024, 1)


class AuxiliaryConvolutions(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv8_1 = nn.Conv2d(tiny(1024), tiny(256), 1)
        self.conv8_2 = nn.Conv2d(tiny(256), tiny(512), 3, stride=2, padding=1)
        self.conv9_1 = nn.Conv2d(tiny(512), tiny(128), 1)
        self.conv9_2 = nn.Conv2d(tiny(128), tiny(256), 3, stride=2, padding=1)
        self.conv10_1 = nn.Conv2d(tiny(256), tiny(128), 1)
        self.conv10_2 = nn.Conv2d(tiny(128), tiny(256), 3)
        self.conv11_1 = nn.Conv2d(tiny(256), tiny(128), 1)
        self.conv11_2 = nn.Conv2d(tiny(128), tiny(256), 3)


class PredictionConvolutions(nn.Module):
    def __init__(self, n_classes):
        super().__init__()
        self.n_classes = n_classes
        ins = OrderedDict([('conv4_3', 512), ('conv7', 1024), ('conv8_2', 512), ('conv9_2', 256), ('conv10_2', 256), ('conv11_2', 256)])
        for k, c in ins.items():
            setattr(self, 'loc_' + k, nn.Conv2d(tiny(c), BOXES[k] * 4, 3, padding=1))
        for k, c in ins.items():
            setattr(self, 'cl_' + k, nn.Conv2d(tiny(c), BOXES[k] * n_classes, 3, padding=1))


class SSD300(nn.Module):
    def __init__(self, n_classes):
        super().__init__()
        self.n_classes = n_classes
        self.base = VGGBase()
        self.aux_convs = AuxiliaryConvolutions()
        self.pred_convs = PredictionConvolutions(n_classes)
        self.rescale_factors = nn.Parameter(torch.FloatTensor(1, tiny(512), 1, 1))
        nn.init.constant_(self.rescale_factors, 20)
        self.priors_cxcy = torch.zeros(4, 4)  # a plain tensor attribute, as in the tutorial


for cls in (VGGBase, AuxiliaryConvolutions, PredictionConvolutions, SSD300):
    cls.__module__ = 'model'
    setattr(model, cls.__name__, cls)

N_CLASSES = 3
ssd = SSD300(N_CLASSES)
with torch.no_grad():
    for i, (k, p) in enumerate(ssd.state_dict().items()):
        if k != 'rescale_factors':
            p.copy_(filled(p.shape, start=i, scale=0.001))

# The tutorial's train.py: biases at twice the learning rate, SGD with momentum, one step taken so that the
# optimizer has momentum buffers keyed by the parameters.
biases = [p for n, p in ssd.named_parameters() if n.endswith('.bias')]
weights = [p for n, p in ssd.named_parameters() if not n.endswith('.bias')]
optimizer = torch.optim.SGD([{'params': biases, 'lr': 2e-3}, {'params': weights}], lr=1e-3, momentum=0.9, weight_decay=5e-4)
saved = {k: v.clone() for k, v in ssd.state_dict().items()}
for p in ssd.parameters():
    p.grad = torch.zeros_like(p)
optimizer.step()
checkpoint = {'epoch': 12, 'model': ssd, 'optimizer': optimizer}
save(checkpoint, 'tutorial_checkpoint_legacy.pth.tar', legacy=True)
save(checkpoint, 'tutorial_checkpoint_zip.pth.tar')
# A plain state_dict with the reference names, in both formats.
save(ssd.state_dict(), 'ssd300_state_dict_zip.pth')
save(ssd.state_dict(), 'ssd300_state_dict_legacy.pth', legacy=True)


# ---- 3. torchvision vgg16 (ImageNet) state_dict, tiny ------------------------------------------------------
def tiny_vgg16():
    sd = OrderedDict()
    cfg = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M']
    i, cin = 0, 3
    for v in cfg:
        if v == 'M':
            i += 1
            continue
        sd['features.%d.weight' % i] = filled((tiny(v), cin, 3, 3), start=i)
        sd['features.%d.bias' % i] = filled((tiny(v),), start=-i)
        cin = tiny(v)
        i += 2
    # fc6/fc7 keep the 4:1 ratio to conv6/conv7 of the real network (4096 : 1024); fc8 is ImageNet's classifier.
    fc = 4 * tiny(1024)
    sd['classifier.0.weight'] = filled((fc, cin * 7 * 7))
    sd['classifier.0.bias'] = filled((fc,), start=100)
    sd['classifier.3.weight'] = filled((fc, fc), start=-1)
    sd['classifier.3.bias'] = filled((fc,), start=200)
    sd['classifier.6.weight'] = filled((10, fc))
    sd['classifier.6.bias'] = filled((10,))
    return sd


# The real key names, checked against torchvision's own model.
real = torchvision.models.vgg16(weights=None).state_dict()
small = tiny_vgg16()
assert list(real.keys()) == list(small.keys()), (list(real.keys()), list(small.keys()))
save(small, 'vgg16_tiny.pth')


# ---- 4. torchvision ssd300_vgg16 (COCO) state_dict, tiny ---------------------------------------------------
real = torchvision.models.detection.ssd300_vgg16(weights=None, weights_backbone=None).state_dict()
TV_CLASSES = 3
sd = OrderedDict()
for i, (k, v) in enumerate(real.items()):
    shape = list(v.shape)
    if k == 'backbone.scale_weight':
        sd[k] = torch.full((tiny(512),), 20.0)
        continue
    if k.startswith('head.'):
        level = int(k.split('.')[3])
        boxes = list(BOXES.values())[level]
        cols = TV_CLASSES if 'classification' in k else 4
        shape[0] = boxes * cols
        if len(shape) == 4:
            shape[1] = tiny(shape[1])
    else:
        shape[0] = tiny(shape[0])
        if len(shape) == 4 and shape[1] != 3:
            shape[1] = tiny(shape[1])
    sd[k] = filled(shape, start=i, scale=0.001)
save(sd, 'ssd300_vgg16_tiny.pth')


# ---- 5. Hostile files ---------------------------------------------------------------------------------------
class SystemCall:
    """Unpickles as os.system(...) in Python's unpickler (names `posix.system` on Linux)."""

    def __reduce__(self):
        return (os.system, ('touch ssd-import-pwned',))


class Eval:
    def __reduce__(self):
        return (eval, ("__import__('os').system('touch ssd-import-pwned')",))


class Payload:
    """A class that is on no allow-list."""

    def __init__(self):
        self.x = 1


Payload.__module__ = 'evil'
sys.modules['evil'] = types.ModuleType('evil')
sys.modules['evil'].Payload = Payload

save({'weight': torch.ones(2), 'hook': SystemCall()}, 'hostile_os_system.pth')
save({'weight': torch.ones(2), 'hook': Eval()}, 'hostile_eval_legacy.pth', legacy=True)
save({'weight': torch.ones(2), 'extra': Payload()}, 'hostile_class.pth')
with open(path('hostile_raw.pkl'), 'wb') as f:
    pickle.dump({'x': SystemCall()}, f, protocol=2)

# Truncated storages: a legacy file cut inside its last storage, and a zip whose storage entry is too short.
buf = io.BytesIO()
torch.save(OrderedDict([('a', torch.arange(4, dtype=torch.float32)), ('b', torch.arange(64, dtype=torch.float32))]), buf,
           _use_new_zipfile_serialization=False)
with open(path('truncated_legacy.pth'), 'wb') as f:
    f.write(buf.getvalue()[:-100])

buf = io.BytesIO()
torch.save(OrderedDict([('a', torch.arange(4, dtype=torch.float32)), ('b', torch.arange(64, dtype=torch.float32))]), buf)
src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
with zipfile.ZipFile(path('truncated_storage_zip.pth'), 'w', zipfile.ZIP_STORED) as dst:
    for info in src.infolist():
        data = src.read(info.filename)
        if info.filename.endswith('/data/1'):
            data = data[:100]  # 25 of b's 64 floats
        dst.writestr(info.filename, data)

for name in sorted(os.listdir(OUT)):
    print('%-40s %6d bytes' % (name, os.path.getsize(path(name))))
