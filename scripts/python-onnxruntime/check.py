"""Runs ssd-ts's SSD300 graphs in Python's onnxruntime and compares them with the PyTorch reference and with
onnxruntime-node (files written by prepare.ts). Prints one JSON object; exits 1 if a comparison fails.

Usage: python3 scripts/python-onnxruntime/check.py <dir written by prepare.ts>
Needs numpy, onnx and onnxruntime.
"""
import json, os, sys, time
import numpy as np
import onnx
from onnx import numpy_helper
import onnxruntime as ort

d = sys.argv[1]
exp = json.load(open(os.path.join(d, 'expected.json')))
P = 8732
result = {'onnxruntime': ort.__version__, 'onnx': onnx.__version__, 'checks': {}}
failed = []


def check(name, ok, **figures):
    result['checks'][name] = {'ok': bool(ok), **figures}
    if not ok:
        failed.append(name)


def fnv1a32(s):
    h = 0x811C9DC5
    for b in s.encode('utf-8'):
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def mix32(x):
    x = x.astype(np.uint64) & 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    x ^= x >> 16
    return x


def recipe(key, n, amplitude):
    """The reference README's recipe: deterministic float32 values from a tensor's name."""
    base = int(mix32(np.array([fnv1a32(key)]))[0])
    i = np.arange(n, dtype=np.uint64)
    u = mix32((base + i * 0x9E3779B9) & 0xFFFFFFFF)
    return (amplitude * (u.astype(np.float64) / 2**32 * 2 - 1)).astype(np.float32)


params = {}
for e in exp['state_dict']:
    n = int(np.prod(e['shape']))
    v = np.full(n, 20, np.float32) if e['amplitude'] is None else recipe(e['key'], n, e['amplitude'])
    params[e['key']] = v.reshape(e['shape'])
fi = exp['forward_input']
images = recipe(fi['recipe_key'], int(np.prod(fi['shape'])), fi['amplitude']).reshape(fi['shape'])
targets = {
    'images': images,
    'true_classes': np.fromfile(os.path.join(d, 'true_classes.i64'), np.int64).reshape(2, P),
    'true_offsets': np.fromfile(os.path.join(d, 'true_offsets.f32'), np.float32).reshape(2, P, 4),
}
so = ort.SessionOptions()
so.log_severity_level = 3


def session(path_or_bytes):
    return ort.InferenceSession(path_or_bytes, so, providers=['CPUExecutionProvider'])


def rel(a, b):
    return float(np.linalg.norm(np.asarray(a, np.float64) - b) / max(np.linalg.norm(b), 1e-30))


# 1. The gradient graph: loss and all gradients against the PyTorch reference.
ts = exp['train_step']
path = os.path.join(d, 'ssd300-gradients.onnx')
onnx.checker.check_model(path)
t0 = time.time()
s = session(path)
names = [o.name for o in s.get_outputs()]
out = dict(zip(names, s.run(None, {**targets, **params})))
loss = float(out['loss'])
worst_l2 = worst_first8 = 0.0
for k, ref_norm in ts['grad_l2'].items():
    g = out['grad:' + k].ravel()
    worst_l2 = max(worst_l2, abs(float(np.linalg.norm(g.astype(np.float64))) - ref_norm) / ref_norm)
    worst_first8 = max(worst_first8, float(np.max(np.abs(g[:8] - np.array(ts['grad_first8'][k])))) / ref_norm)
check('gradient graph', abs(loss - ts['loss_before']) / ts['loss_before'] < 1e-4 and worst_l2 < 1e-3 and worst_first8 < 1e-3,
      loss=loss, reference=ts['loss_before'], worst_grad_norm_error=worst_l2, worst_first8_error=worst_first8,
      gradients=len(ts['grad_l2']), seconds=round(time.time() - t0, 2))


# 2. The training graph: one SGD step from zero momentum, then the loss at the updated parameters.
path = os.path.join(d, 'ssd300-train.onnx')
onnx.checker.check_model(path)
t0 = time.time()
s = session(path)
feeds = {**targets, **params, 'lr': np.array(1e-3, np.float32)}
for k, v in params.items():
    feeds[k + '.momentum'] = np.zeros_like(v)
names = [o.name for o in s.get_outputs()]
out = dict(zip(names, s.run(None, feeds)))
stepped = {k: out[k + '.next'] for k in params}
after = session(os.path.join(d, 'ssd300-gradients.onnx')).run(['loss'], {**targets, **stepped})[0]
check('training graph', abs(float(out['loss']) - ts['loss_before']) / ts['loss_before'] < 1e-4
      and abs(float(after) - ts['loss_after']) / ts['loss_after'] < 1e-3,
      loss_before=float(out['loss']), loss_after=float(after), reference_after=ts['loss_after'],
      seconds=round(time.time() - t0, 2))


# 3. The exported detector: the recipe weights put back, detections equal onnxruntime-node's.
m = onnx.load(os.path.join(d, 'ssd300-export-stripped.onnx'))
for init in m.graph.initializer:
    if init.name in params:
        init.CopyFrom(numpy_helper.from_array(params[init.name], init.name))
onnx.checker.check_model(m)
meta = {p.key: p.value for p in m.metadata_props}
s = session(m.SerializeToString())
names = [o.name for o in s.get_outputs()]
out = dict(zip(names, s.run(None, {'images': images})))
dims = exp['export']['dims']
node = {
    'boxes': np.fromfile(os.path.join(d, 'node_boxes.bin'), np.float32).reshape(dims['boxes']),
    'labels': np.fromfile(os.path.join(d, 'node_labels.bin'), np.int64).reshape(dims['labels']),
    'scores': np.fromfile(os.path.join(d, 'node_scores.bin'), np.float32).reshape(dims['scores']),
    'num_detections': np.fromfile(os.path.join(d, 'node_num_detections.bin'), np.int64).reshape(dims['num_detections']),
}
same_count = bool(np.array_equal(out['num_detections'], node['num_detections']))
# Compare as sets per image (near-equal scores may swap order): sort rows by (label, score, box).
worst = 0.0
same_sets = same_count
for b in range(images.shape[0]):
    n = int(node['num_detections'][b])
    def rows(o):
        r = np.concatenate([o['labels'][b, :n, None].astype(np.float64), o['scores'][b, :n, None], o['boxes'][b, :n]], 1)
        return r[np.lexsort(r.T[::-1])]
    if same_count:
        a, c = rows(out), rows(node)
        same_sets = same_sets and bool(np.array_equal(a[:, 0], c[:, 0]))
        worst = max(worst, float(np.max(np.abs(a - c))) if n else 0.0)
check('exported detector', same_sets and worst < 1e-5, detections=[int(v) for v in out['num_detections']],
      worst_difference=worst, has_config_metadata='ssd.config' in meta)
# 4. The raw network outputs of the gradient graph against the reference forward pass.
lo = session(os.path.join(d, 'ssd300-gradients.onnx')).run(['locs', 'scores'], {**targets, **params})
ref_locs = np.fromfile(os.path.join(d, 'forward_locs.f32'), np.float32).reshape(lo[0].shape)
ref_scores = np.fromfile(os.path.join(d, 'forward_scores.f32'), np.float32).reshape(lo[1].shape)
check('forward outputs', rel(lo[0], ref_locs) < 1e-3 and rel(lo[1], ref_scores) < 1e-3,
      locs_rel_l2=rel(lo[0], ref_locs), scores_rel_l2=rel(lo[1], ref_scores))

result['ok'] = not failed
print(json.dumps(result))
sys.exit(1 if failed else 0)
