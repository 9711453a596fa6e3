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
import torch.nn.backends.thnn
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


class ThnnBackend:
    """PyTorch 0.4, which the tutorial used, kept `_backend` on every module, pickled as a call to this function."""

    def __reduce__(self):
        return (torch.nn.backends.thnn._get_thnn_function_backend, ())


for m in ssd.modules():
    m._backend = ThnnBackend()
save(checkpoint, 'tutorial_checkpoint_legacy.pth.tar', legacy=True)
for m in ssd.modules():
    del m._backend
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
# A state_dict of no known kind.
save(OrderedDict([('encoder.weight', torch.ones(2, 2)), ('encoder.bias', torch.zeros(2))]), 'unknown_state_dict.pth')


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


# ---- 4b. Full-size SSD300 files whose tensors are constants, deflated so that they stay small ------------------
# torch.save stores zip entries uncompressed; these are re-written with deflate (which our reader also reads) so that
# the full 26M-parameter shapes fit in ~100 KB. Tensor k is filled with k / 100 (k = its index in the file).
def deflated(obj, name):
    buf = io.BytesIO()
    torch.save(obj, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with zipfile.ZipFile(path(name), 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for info in src.infolist():  # fixed timestamps keep the file the same from run to run
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0)), src.read(info.filename),
                         compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)


def constants(state_dict):
    return OrderedDict((k, torch.full(v.shape, k_index / 100.0)) for k_index, (k, v) in enumerate(state_dict.items()))


tv = torchvision.models.detection.ssd300_vgg16(weights=None, weights_backbone=None)
deflated(constants(tv.state_dict()), 'ssd300_vgg16_full_deflated.pth')

# torchvision's priors for SSD300, every 97th of the 8732, to check that our prior config reproduces them.
from torchvision.models.detection.image_list import ImageList
gen = tv.anchor_generator
sizes = [38, 19, 10, 5, 3, 1]
maps = [torch.zeros(1, 1, s, s) for s in sizes]
boxes = gen(ImageList(torch.zeros(1, 3, 300, 300), [(300, 300)]), maps)[0] / 300.0  # xyxy in 0..1
cxcy = torch.cat([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]], 1)
picked = list(range(0, cxcy.shape[0], 97))
import json
with open(path('torchvision_priors_sample.json'), 'w') as f:
    json.dump({'count': cxcy.shape[0], 'indices': picked, 'cxcywh': [[round(float(x), 7) for x in cxcy[i]] for i in picked]}, f)


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
        dst.writestr(zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0)), data)

# ---- 6. The torchvision -> ssd-ts name mapping (src/io/import.ts, restated) checked on the real network --------
# torchvision's ssd300_vgg16 and the tutorial's SSD300 forward pass, written out with F.conv2d on the mapped
# weights, must give the same head outputs on the same input.
def torchvision_to_ours():
    names = {}

    def conv(a, b):
        names[a + '.weight'] = b + '.weight'
        names[a + '.bias'] = b + '.bias'

    base = ['conv1_1', 'conv1_2', 'conv2_1', 'conv2_2', 'conv3_1', 'conv3_2', 'conv3_3', 'conv4_1', 'conv4_2', 'conv4_3']
    for idx, n in zip([0, 2, 5, 7, 10, 12, 14, 17, 19, 21], base):
        conv('backbone.features.%d' % idx, 'base.' + n)
    for idx, n in zip([1, 3, 5], ['conv5_1', 'conv5_2', 'conv5_3']):
        conv('backbone.extra.0.%d' % idx, 'base.' + n)
    conv('backbone.extra.0.7.1', 'base.conv6')
    conv('backbone.extra.0.7.3', 'base.conv7')
    for b in range(1, 5):
        conv('backbone.extra.%d.0' % b, 'aux_convs.conv%d_1' % (b + 7))
        conv('backbone.extra.%d.2' % b, 'aux_convs.conv%d_2' % (b + 7))
    for k, m in enumerate(MAPS):
        conv('head.regression_head.module_list.%d' % k, 'pred_convs.loc_' + m)
        conv('head.classification_head.module_list.%d' % k, 'pred_convs.cl_' + m)
    return names


MAPS = ['conv4_3', 'conv7', 'conv8_2', 'conv9_2', 'conv10_2', 'conv11_2']


def tutorial_forward(W, x, n_classes):
    """The tutorial's SSD300 forward pass on a dict of our parameter names."""
    import torch.nn.functional as F

    def conv(x, name, relu=True, **kw):
        y = F.conv2d(x, W[name + '.weight'], W[name + '.bias'], **kw)
        return F.relu(y) if relu else y

    pools = {'conv1_2': dict(kernel_size=2, stride=2), 'conv2_2': dict(kernel_size=2, stride=2),
             'conv3_3': dict(kernel_size=2, stride=2, ceil_mode=True), 'conv4_3': dict(kernel_size=2, stride=2),
             'conv5_3': dict(kernel_size=3, stride=1, padding=1)}
    for name in ['conv1_1', 'conv1_2', 'conv2_1', 'conv2_2', 'conv3_1', 'conv3_2', 'conv3_3', 'conv4_1', 'conv4_2', 'conv4_3',
                 'conv5_1', 'conv5_2', 'conv5_3']:
        x = conv(x, 'base.' + name, padding=1)
        if name == 'conv4_3':
            conv4_3 = x
        if name in pools:
            x = F.max_pool2d(x, **pools[name])
    x = conv(x, 'base.conv6', padding=6, dilation=6)
    feats = [conv4_3 / conv4_3.pow(2).sum(1, keepdim=True).sqrt() * W['rescale_factors'], conv(x, 'base.conv7')]
    x = feats[-1]
    for n, (stride, pad) in zip(range(8, 12), [(2, 1), (2, 1), (1, 0), (1, 0)]):
        x = conv(x, 'aux_convs.conv%d_1' % n)
        x = conv(x, 'aux_convs.conv%d_2' % n, stride=stride, padding=pad)
        feats.append(x)
    locs, scores = [], []
    for f, m in zip(feats, MAPS):
        locs.append(conv(f, 'pred_convs.loc_' + m, relu=False, padding=1).permute(0, 2, 3, 1).reshape(x.size(0), -1, 4))
        scores.append(conv(f, 'pred_convs.cl_' + m, relu=False, padding=1).permute(0, 2, 3, 1).reshape(x.size(0), -1, n_classes))
    return torch.cat(locs, 1), torch.cat(scores, 1)


def check_torchvision_mapping():
    torch.manual_seed(0)
    tv = torchvision.models.detection.ssd300_vgg16(weights=None, weights_backbone=None, num_classes=5).eval()
    sd = tv.state_dict()
    for k in sd:
        if k.endswith('.bias'):  # torchvision initialises biases to 0; make them count
            sd[k] = torch.randn_like(sd[k]) * 0.1
    tv.load_state_dict(sd)
    names = torchvision_to_ours()
    W = {names[k]: v for k, v in sd.items() if k in names}
    W['rescale_factors'] = sd['backbone.scale_weight'].view(1, -1, 1, 1)
    assert len(W) == 71
    x = torch.randn(2, 3, 300, 300)
    with torch.no_grad():
        head = tv.head(list(tv.backbone(x).values()))
        locs, scores = tutorial_forward(W, x, 5)
    assert locs.shape == head['bbox_regression'].shape == (2, 8732, 4)
    dl = (locs - head['bbox_regression']).abs().max().item()
    ds = (scores - head['cls_logits']).abs().max().item()
    assert dl < 1e-4 and ds < 1e-4, (dl, ds)
    print('torchvision ssd300_vgg16 == tutorial SSD300 with the mapped weights: max |diff| locs %.1e, scores %.1e' % (dl, ds))


check_torchvision_mapping()


for name in sorted(os.listdir(OUT)):
    print('%-40s %6d bytes' % (name, os.path.getsize(path(name))))
