"""Regenerate the torch-exported ONNX fixtures of tests/onnx/test_torch_exported.py.

Six small seeded PyTorch models, exported by torch.onnx.export's TorchScript path
(`dynamo=False`, still in torch 2.13), which writes the requested opset directly and,
for a scripted module, its data-dependent `if`/`while` as ONNX If/Loop nodes. Each
model is stored as `<name>.onnx` beside `<name>.npz` (allow_pickle=False) holding the
seeded inputs (`in_<input name>`) and torch's outputs (`out_<output name>`).

Needs torch (CI does not have it; the tests read only the stored files):

    python tests/onnx/torch_models/export_models.py [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import warnings

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


class ResidualBlock(nn.Module):
    """conv-bn-relu-conv-bn plus the input, then relu (a ResNet basic block)."""

    def __init__(self, channels: int = 4):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(h)) + x)


class LstmHead(nn.Module):
    """A 2-layer bidirectional LSTM over a sequence and a Linear on its last step."""

    def __init__(self, features: int = 5, hidden: int = 6, classes: int = 3):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, num_layers=2, bidirectional=True,
                            batch_first=True)
        self.head = nn.Linear(2 * hidden, classes)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


class ControlFlow(nn.Module):
    """Data-dependent `if` and `while`: halves x until its norm drops under a bound."""

    def __init__(self, features: int = 4):
        super().__init__()
        self.linear = nn.Linear(features, features)

    def forward(self, x):
        h = self.linear(x)
        if h.sum() > 0:
            h = h * 2.0
        else:
            h = -h
        steps = 0
        while bool(h.abs().sum() > 1.0) and steps < 10:
            h = h * 0.5
            steps += 1
        return h


class UpsampleConv(nn.Module):
    """conv, nearest 2x upsample (Resize), bilinear resize to a fixed size, conv."""

    def __init__(self, channels: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 4, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv2 = nn.Conv2d(4, 2, 3, padding=1)

    def forward(self, x):
        h = self.up(F.relu(self.conv1(x)))
        h = F.interpolate(h, size=(9, 11), mode="bilinear", align_corners=False)
        return self.conv2(h)


def _mlp():
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.GELU(),
                         nn.Linear(16, 4), nn.Softmax(dim=-1))


class Encoder(nn.Module):
    """nn.TransformerEncoderLayer behind a forward(x): exported directly, its defaulted
    `is_causal` argument becomes a traced tensor input and the export fails."""

    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32,
                                                dropout=0.0, batch_first=True)

    def forward(self, x):
        return self.layer(x)


def _randomize_bn(module: nn.Module, gen: torch.Generator) -> None:
    """Non-trivial running statistics, so batch norm is not the identity in eval mode."""
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


# name: (module factory, input shapes, opset, script the module first, constant-fold at
# export: the residual block is not, so its BatchNormalization nodes stay unfused)
MODELS = {
    "residual_block": (ResidualBlock, {"x": (2, 4, 6, 6)}, 11, False, False),
    "mlp": (_mlp, {"x": (3, 8)}, 13, False, True),
    "lstm": (LstmHead, {"x": (2, 5, 5)}, 14, False, True),
    "transformer_encoder": (Encoder, {"x": (2, 5, 16)}, 17, False, True),
    "control_flow": (ControlFlow, {"x": (3, 4)}, 13, True, True),
    "upsample_conv": (UpsampleConv, {"x": (2, 3, 4, 5)}, 11, False, True),
}


def export_one(name: str, out_dir: str, seed: int = 0) -> None:
    factory, shapes, opset, script, fold = MODELS[name]
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    module = factory()
    _randomize_bn(module, gen)
    module.eval()
    inputs = {k: torch.randn(*s, generator=gen) for k, s in shapes.items()}
    with torch.no_grad():
        outputs = module(*inputs.values())
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    output_names = ["y"] if len(outputs) == 1 else [f"y{i}" for i in range(len(outputs))]
    exported = torch.jit.script(module) if script else module
    path = os.path.join(out_dir, name + ".onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(exported, tuple(inputs.values()), path, dynamo=False,
                          opset_version=opset, input_names=list(inputs),
                          output_names=output_names, do_constant_folding=fold,
                          dynamic_axes={n: {0: "batch"} for n in [*inputs, *output_names]})
    arrays = {f"in_{k}": v.numpy() for k, v in inputs.items()}
    arrays.update({f"out_{k}": v.numpy() for k, v in zip(output_names, outputs)})
    np.savez(os.path.join(out_dir, name + ".npz"), **arrays)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--only", nargs="+", default=list(MODELS))
    args = ap.parse_args(argv)
    for name in args.only:
        export_one(name, args.out)
        print(f"{name}: opset {MODELS[name][2]}, "
              f"{os.path.getsize(os.path.join(args.out, name + '.onnx'))} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
