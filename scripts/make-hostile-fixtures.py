#!/usr/bin/python3
"""Makes the files the model-file tests (test/io/model-files.test.ts) give where something else is expected:
- test/fixtures/onnx/conv_torch.onnx: a tiny ONNX model written by torch.onnx.export (not a safetensors file,
  not a PyTorch file: the readers must say it is an ONNX file);
- test/fixtures/torch/expanded_zip.pth: torch.save of a state_dict whose one tensor is a float expanded to 2**30
  elements (stride 0 over a one-element storage): 4 GiB once read, which the reader must refuse, not allocate.

Run with Debian's PyTorch: /usr/bin/python3 scripts/make-hostile-fixtures.py
"""
import os

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures')
os.makedirs(os.path.join(ROOT, 'onnx'), exist_ok=True)
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1), torch.nn.ReLU())
torch.onnx.export(model, torch.zeros(1, 3, 4, 4), os.path.join(ROOT, 'onnx', 'conv_torch.onnx'), opset_version=13,
                  input_names=['images'], output_names=['out'])

expanded = torch.full((1,), 0.5).expand(2 ** 30)
assert expanded.stride() == (0,)
torch.save({'base.conv1_1.bias': expanded}, os.path.join(ROOT, 'torch', 'expanded_zip.pth'))
