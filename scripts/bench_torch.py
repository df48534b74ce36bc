#!/usr/bin/env python3
"""PyTorch reference for `pnpm bench --only train,infer`: Ultralytics' own YOLOv8n training step and fused
inference on torch CPU, at the same sizes and thread counts as the project's bench rows.

Training step (as Ultralytics' BaseTrainer runs one with accumulate 1, and as @ablate/train's
batchGradients + optimizerStep): forward in train mode, v8DetectionLoss (box 7.5, cls 0.5, dfl 1.5) on 3
random boxes per image, backward, clip_grad_norm_(10), AdamW (lr 1e-3, weight decay 5e-4 on the weights
group, Ultralytics' three param groups), zero_grad, ModelEMA update. Inference: batch 1, model.fuse(),
eval, no grad, the Detect decode included and NMS excluded (what `pnpm bench` times). Median over runs
after warm-up. Random weights (speed does not depend on them), nc 80.

Ultralytics is not a dependency of this project: point --ultralytics at a checkout of its code (8.0.2xx;
measured with the mirror github.com/Lornatang/YOLOv8-PyTorch, package `yolov8_pytorch`, or an upstream
`ultralytics` tree). torchvision is not needed: the only op used here, torchvision.ops.nms, is shimmed
with plain torch (NMS is not timed).

    pip install --retries 0 --timeout 5 torch
    python3 scripts/bench_torch.py --ultralytics /tmp/ultra --threads 1,2 [--only train,infer] [--steps 5]
"""
import argparse
import importlib
import json
import os
import statistics
import sys
import time
import types
from types import SimpleNamespace


def shim_torchvision():
    """A minimal `torchvision` (ops.nms in plain torch) so Ultralytics imports without the real one."""
    import torch

    def nms(boxes, scores, iou_threshold):
        order = scores.argsort(descending=True)
        keep = []
        x1, y1, x2, y2 = boxes.unbind(1)
        area = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
        while order.numel():
            i = order[0]
            keep.append(i)
            rest = order[1:]
            w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
            h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
            inter = w * h
            iou = inter / (area[i] + area[rest] - inter)
            order = rest[iou <= iou_threshold]
        return torch.stack(keep) if keep else torch.zeros(0, dtype=torch.long)

    tv = types.ModuleType('torchvision')
    tv.__version__ = '0.0-shim'
    tv.ops = types.ModuleType('torchvision.ops')
    tv.ops.nms = nms
    tv.transforms = types.ModuleType('torchvision.transforms')
    tv.datasets = types.ModuleType('torchvision.datasets')
    for name, mod in [('torchvision', tv), ('torchvision.ops', tv.ops), ('torchvision.transforms', tv.transforms),
                      ('torchvision.datasets', tv.datasets)]:
        sys.modules[name] = mod


def load_ultralytics(root):
    sys.path.insert(0, root)
    for pkg in ('ultralytics', 'yolov8_pytorch'):
        if os.path.isdir(os.path.join(root, pkg)):
            cfg = os.path.join(root, pkg, 'cfg', 'default.yaml')
            if not os.path.exists(cfg):
                # The mirror omits cfg/default.yaml, which Ultralytics reads at import; nothing timed here
                # reads it (the loss gains are set below), so a stand-in with the loss gains will do.
                with open(cfg, 'w') as f:
                    f.write('# stand-in written by ablate scripts/bench_torch.py\nbox: 7.5\ncls: 0.5\ndfl: 1.5\n')
                print(f'# note: {cfg} was missing; wrote a stand-in (loss gains only)')
            # The package's __init__ imports every model family (hub, SAM, RT-DETR, ...), some of which the
            # mirror lacks: register the package without running it; only nn/ and utils/ are imported.
            init = os.path.join(root, pkg, '__init__.py')
            m = types.ModuleType(pkg)
            m.__path__ = [os.path.join(root, pkg)]
            m.__version__ = next((ln.split('=')[1].strip().strip('\'"') for ln in open(init) if ln.startswith('__version__')), '?')
            sys.modules[pkg] = m
            tasks = importlib.import_module(f'{pkg}.nn.tasks')
            loss = importlib.import_module(f'{pkg}.utils.loss')
            tu = importlib.import_module(f'{pkg}.utils.torch_utils')
            version = m.__version__
            return tasks, loss, tu, version, pkg
    raise SystemExit(f'{root}: no ultralytics/ or yolov8_pytorch/ package folder found')


def find_yaml(root, pkg):
    for rel in ('configs/COCO-Detection/yolov8n.yaml', f'{pkg}/cfg/models/v8/yolov8.yaml'):
        p = os.path.join(root, rel)
        if os.path.exists(p):
            return p
    raise SystemExit(f'{root}: no yolov8n model YAML found')


def median_ms(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1000)
    return statistics.median(ts), min(ts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--ultralytics', default=os.environ.get('ULTRALYTICS_ROOT', '/tmp/ultra'))
    ap.add_argument('--threads', default='1,2')
    ap.add_argument('--only', default='train,infer')
    ap.add_argument('--steps', type=int, default=5)
    ap.add_argument('--runs', type=int, default=30)
    args = ap.parse_args()
    import torch

    shim_torchvision()
    tasks, loss_mod, tu, version, pkg = load_ultralytics(args.ultralytics)
    yaml_path = find_yaml(args.ultralytics, pkg)
    torch.set_num_interop_threads(1)
    print(f'# PyTorch {torch.__version__} reference, Ultralytics {version} ({args.ultralytics}), load {os.getloadavg()[0]:.2f}')
    rows = []
    for threads in [int(t) for t in args.threads.split(',')]:
        torch.set_num_threads(threads)
        if 'train' in args.only:
            for batch, imgsz in [(8, 128), (8, 320), (2, 640)]:
                torch.manual_seed(0)
                model = tasks.DetectionModel(yaml_path, nc=80, verbose=False)
                model.args = SimpleNamespace(box=7.5, cls=0.5, dfl=1.5)
                model.train()
                crit = loss_mod.v8DetectionLoss(model)
                g = [], [], []  # Ultralytics build_optimizer: biases, weights (decay), norm weights
                bn = tuple(v for k, v in torch.nn.__dict__.items() if 'Norm' in k)
                for mn, m in model.named_modules():
                    for pn, p in m.named_parameters(recurse=False):
                        fullname = f'{mn}.{pn}' if mn else pn
                        if 'bias' in fullname:
                            g[2].append(p)
                        elif isinstance(m, bn):
                            g[1].append(p)
                        else:
                            g[0].append(p)
                opt = torch.optim.AdamW(g[2], lr=1e-3, betas=(0.9, 0.999), weight_decay=0.0)
                opt.add_param_group({'params': g[0], 'weight_decay': 5e-4})
                opt.add_param_group({'params': g[1], 'weight_decay': 0.0})
                ema = tu.ModelEMA(model)
                x = torch.rand(batch, 3, imgsz, imgsz)
                gen = torch.Generator().manual_seed(1)
                n = 3 * batch
                targets = {
                    'batch_idx': torch.arange(batch).repeat_interleave(3).float(),
                    'cls': torch.randint(0, 80, (n, 1), generator=gen).float(),
                    'bboxes': torch.cat([torch.rand(n, 2, generator=gen) * 0.6 + 0.2,
                                         torch.rand(n, 2, generator=gen) * 0.35 + 0.05], 1),
                }

                def step():
                    preds = model(x)
                    loss, _ = crit(preds, targets)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=10.0)
                    opt.step()
                    opt.zero_grad()
                    ema.update(model)

                med, mn_ = median_ms(step, 1, args.steps)
                rows.append({'section': 'train', 'threads': threads, 'batch': batch, 'imgsz': imgsz, 'median_ms': med, 'min_ms': mn_})
                print(json.dumps(rows[-1]), flush=True)
        if 'infer' in args.only:
            for imgsz in (128, 320, 640):
                torch.manual_seed(0)
                model = tasks.DetectionModel(yaml_path, nc=80, verbose=False).fuse(verbose=False).eval()
                x = torch.rand(1, 3, imgsz, imgsz)

                def infer():
                    with torch.inference_mode():
                        model(x)

                med, mn_ = median_ms(infer, 10, args.runs)
                rows.append({'section': 'infer', 'threads': threads, 'batch': 1, 'imgsz': imgsz, 'median_ms': med, 'min_ms': mn_})
                print(json.dumps(rows[-1]), flush=True)
    print(f'# load at the end {os.getloadavg()[0]:.2f}')


if __name__ == '__main__':
    main()
