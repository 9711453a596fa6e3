#!/usr/bin/python3
"""Makes test/fixtures/onnx/conv_torch.onnx, a tiny ONNX model written by torch.onnx.export, which the model-file
tests give where a safetensors or PyTorch file is expected (the readers must say it is an ONNX file).

Run with Debian's PyTorch: /usr/bin/python3 scripts/make-onnx-fixture.py
"""
import os

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'onnx')
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1), torch.nn.ReLU())
torch.onnx.export(model, torch.zeros(1, 3, 4, 4), os.path.join(OUT, 'conv_torch.onnx'), opset_version=13,
                  input_names=['images'], output_names=['out'])
