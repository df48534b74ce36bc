#!/usr/bin/env python3
"""
Fixtures for the `.pt` reader of @ablate/core (packages/core/src/torch-pt): Ultralytics checkpoints
written by torch.save exactly as Ultralytics 8.0.230 writes them (a dict with the model object graph,
`model` / `ema` entries in half precision, train args, ...), plus broken ones.

Needs: torch (the machine's wheelhouse: pip install --retries 0 --timeout 5 torch) and the Ultralytics
8.0.230 code, which is NOT part of this repository. Get it with the mirror Lornatang/YOLOv8-PyTorch
(its package is named `yolov8_pytorch`; this script copies it to a temporary `ultralytics` package so
the pickles name `ultralytics.nn.tasks.DetectionModel` as real checkpoints do):

    git --git-dir=<mirror>/repo archive HEAD | tar -x -C /tmp/ultra
    python3 scripts/make-pt-fixtures.py --ultralytics /tmp/ultra --out fixtures/pt

torchvision does not load here: a stand-in module with `ops.nms` (a few lines of torch) is installed
before Ultralytics is imported; nothing in these files depends on it.

Writes (all nc=3):
  yolov8n-fp16.pt        yolov8n, `model` in float16, `ema` None (what `strip_optimizer` leaves: yolov8n.pt)
  tiny-fp32.pt           a width-1/16 yolov8 in float32 (same layer structure, small file)
  tiny-bf16.pt           the same in bfloat16
  tiny-ema.pt            a training checkpoint: `model` and `ema` (different weights), updates, optimizer state
  tiny-unknown-class.pt  train_args holds an object of a class the reader does not know, and a value whose
                         unpickling would call os.system: both must be skipped by name, never executed
  tiny-truncated.pt      tiny-fp32.pt cut at 60 % of its bytes
  expected.json          per file and entry (`model`, `ema`): every state-dict tensor as [dtype, shape, sha256 of
                         its values as little-endian float32 (fp16/bf16 widened exactly; int64 converted)]
"""
import argparse
import copy
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import types
from pathlib import Path

import torch

YOLOV8 = {
    'nc': 80,
    'scales': {'n': [0.33, 0.25, 1024], 't': [0.33, 0.0625, 1024]},
    'backbone': [
        [-1, 1, 'Conv', [64, 3, 2]],
        [-1, 1, 'Conv', [128, 3, 2]],
        [-1, 3, 'C2f', [128, True]],
        [-1, 1, 'Conv', [256, 3, 2]],
        [-1, 6, 'C2f', [256, True]],
        [-1, 1, 'Conv', [512, 3, 2]],
        [-1, 6, 'C2f', [512, True]],
        [-1, 1, 'Conv', [1024, 3, 2]],
        [-1, 3, 'C2f', [1024, True]],
        [-1, 1, 'SPPF', [1024, 5]],
    ],
    'head': [
        [-1, 1, 'nn.Upsample', [None, 2, 'nearest']],
        [[-1, 6], 1, 'Concat', [1]],
        [-1, 3, 'C2f', [512]],
        [-1, 1, 'nn.Upsample', [None, 2, 'nearest']],
        [[-1, 4], 1, 'Concat', [1]],
        [-1, 3, 'C2f', [256]],
        [-1, 1, 'Conv', [256, 3, 2]],
        [[-1, 12], 1, 'Concat', [1]],
        [-1, 3, 'C2f', [512]],
        [-1, 1, 'Conv', [512, 3, 2]],
        [[-1, 9], 1, 'Concat', [1]],
        [-1, 3, 'C2f', [1024]],
        [[15, 18, 21], 1, 'Detect', ['nc']],
    ],
}


def shim_torchvision():
    tv = types.ModuleType('torchvision')
    tv.__version__ = '0.0.0+stand-in'

    def nms(boxes, scores, iou):
        order = scores.argsort(descending=True)
        keep = []
        while order.numel():
            i = order[0]
            keep.append(int(i))
            if order.numel() == 1:
                break
            rest = order[1:]
            a, b = boxes[i], boxes[rest]
            lt = torch.maximum(a[:2], b[:, :2])
            rb = torch.minimum(a[2:], b[:, 2:])
            inter = (rb - lt).clamp(min=0).prod(1)
            area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
            order = rest[inter / (area(a) + area(b) - inter) <= iou]
        return torch.tensor(keep, dtype=torch.long)

    tv.ops = types.SimpleNamespace(nms=nms)
    for sub in ('transforms', 'datasets'):
        m = types.ModuleType(f'torchvision.{sub}')
        m.ImageFolder = type('ImageFolder', (), {})
        setattr(tv, sub, m)
        sys.modules[f'torchvision.{sub}'] = m
    sys.modules['torchvision'] = tv


def import_ultralytics(src: Path, work: Path):
    pkg = src / 'yolov8_pytorch'
    if not pkg.is_dir():
        sys.exit(f'{src}: no yolov8_pytorch package (extract github:Lornatang/YOLOv8-PyTorch there)')
    dst = work / 'ultralytics'
    shutil.copytree(pkg, dst)
    for p in dst.rglob('*.py'):
        p.write_text(re.sub(r'\byolov8_pytorch\b', 'ultralytics', p.read_text()))
    # only the model code is needed: the package's __init__ (which imports the hub client the mirror lacks)
    # is reduced to its version line
    version = re.search(r"__version__ = '([^']+)'", (dst / '__init__.py').read_text()).group(1)
    (dst / '__init__.py').write_text(f"__version__ = '{version}'\n")
    # the mirror keeps Ultralytics' cfg/default.yaml as configs/base.yaml
    default = dst / 'cfg' / 'default.yaml'
    if not default.exists():
        shutil.copy(src / 'configs' / 'base.yaml', default)
    sys.path.insert(0, str(work))
    shim_torchvision()
    import ultralytics
    from ultralytics.nn.tasks import DetectionModel

    return ultralytics.__version__, DetectionModel


def build(DetectionModel, scale: str, seed: int):
    torch.manual_seed(seed)
    cfg = copy.deepcopy(YOLOV8)
    cfg['scale'] = scale
    m = DetectionModel(cfg, ch=3, nc=3, verbose=False)
    # BatchNorm is initialised to ones / zeros: give every tensor distinct values so a wrong mapping shows
    with torch.no_grad():
        for name, b in m.named_buffers():
            if b.dtype.is_floating_point:
                b.copy_(torch.rand_like(b) + (0.5 if 'running_var' in name else -0.5))
            else:
                b.fill_(seed + 7)
        for name, p in m.named_parameters():
            if name.endswith('bn.weight') or name.endswith('bn.bias'):
                p.copy_(torch.randn_like(p) * 0.1 + (1.0 if name.endswith('weight') else 0.0))
    return m


def ckpt_of(model, ema=None, version='8.0.230', **extra):
    return {
        'epoch': -1,
        'best_fitness': None,
        'model': model,
        'ema': ema,
        'updates': None,
        'optimizer': None,
        'train_args': {'model': 'yolov8n.yaml', 'data': 'shapes.yaml', 'epochs': 1, 'imgsz': 64, 'nc': 3},
        'train_metrics': {'metrics/mAP50(B)': 0.0, 'fitness': 0.0},
        'date': '2026-12-02T00:00:00',
        'version': version,
        **extra,
    }


def fingerprint(module) -> dict:
    out = {}
    for k, t in module.state_dict().items():
        v = t.detach().float().contiguous() if t.dtype.is_floating_point else t.detach().to(torch.float64).float().contiguous()
        out[k] = [str(t.dtype).replace('torch.', ''), list(t.shape), hashlib.sha256(v.numpy().astype('<f4').tobytes()).hexdigest()]
    return out


class StrangeArgs:
    """A class only this script has: the reader must skip it by name."""

    def __init__(self):
        self.lr0 = 0.01
        self.note = 'not a tensor'


class RunsACommand:
    """Unpickling this would call os.system: the reader must never execute it."""

    def __reduce__(self):
        return (os.system, ('touch /tmp/ablate-pt-reader-executed-code',))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--ultralytics', required=True, type=Path, help='extracted Lornatang/YOLOv8-PyTorch (outside the repo)')
    ap.add_argument('--out', required=True, type=Path)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix='ultra-pkg-'))
    try:
        version, DetectionModel = import_ultralytics(a.ultralytics.resolve(), work)
        expected = {'torch': torch.__version__, 'ultralytics': version, 'files': {}}

        n = build(DetectionModel, 'n', 0)
        fp16 = copy.deepcopy(n).half()
        torch.save(ckpt_of(fp16, version=version), a.out / 'yolov8n-fp16.pt')
        expected['files']['yolov8n-fp16.pt'] = {'model': fingerprint(fp16), 'ema': None}

        t = build(DetectionModel, 't', 1)
        torch.save(ckpt_of(t, version=version), a.out / 'tiny-fp32.pt')
        expected['files']['tiny-fp32.pt'] = {'model': fingerprint(t), 'ema': None}

        bf = copy.deepcopy(t).to(torch.bfloat16)
        torch.save(ckpt_of(bf, version=version), a.out / 'tiny-bf16.pt')
        expected['files']['tiny-bf16.pt'] = {'model': fingerprint(bf), 'ema': None}

        # a training checkpoint: model and EMA differ; the optimizer state holds tensors too
        model = copy.deepcopy(t)
        ema = build(DetectionModel, 't', 2)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        model(torch.rand(1, 3, 64, 64))[0].sum().backward()
        opt.step()
        ck = ckpt_of(copy.deepcopy(model).half(), copy.deepcopy(ema).half(), version=version)
        ck.update({'epoch': 3, 'updates': 12, 'optimizer': opt.state_dict(), 'best_fitness': 0.25})
        torch.save(ck, a.out / 'tiny-ema.pt')
        expected['files']['tiny-ema.pt'] = {'model': fingerprint(ck['model']), 'ema': fingerprint(ck['ema'])}

        ck = ckpt_of(copy.deepcopy(t).half(), version=version)
        ck['train_args'] = StrangeArgs()
        ck['callback'] = RunsACommand()
        torch.save(ck, a.out / 'tiny-unknown-class.pt')
        expected['files']['tiny-unknown-class.pt'] = {'model': fingerprint(ck['model']), 'ema': None}

        whole = (a.out / 'tiny-fp32.pt').read_bytes()
        (a.out / 'tiny-truncated.pt').write_bytes(whole[: int(len(whole) * 0.6)])

        # one line per tensor: [dtype, shape, sha256 of the values as little-endian float32]
        text = json.dumps(expected, indent=1)
        text = re.sub(r'\[\s*"(\w+)",\s*\[([^\]]*)\],\s*"([0-9a-f]{64})"\s*\]',
                      lambda m: '["%s", [%s], "%s"]' % (m.group(1), ', '.join(x.strip() for x in m.group(2).split(',') if x.strip()), m.group(3)), text)
        (a.out / 'expected.json').write_text(text + '\n')
        for f in sorted(a.out.iterdir()):
            print(f'{f}: {f.stat().st_size} bytes')
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
