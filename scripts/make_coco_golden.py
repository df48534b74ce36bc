"""Makes fixtures/golden/coco/coco_ties_maxdets.json with pycocotools 2.0.11 (COCOeval(gt, dt, 'bbox'),
default parameters), in the format of fixtures/golden/coco/README.md.

The case covers what the two given cases do not:
  - ties: detections of exactly equal score inside an image and across images (stable order decides),
    and a detection with exactly equal IoU to two ground truths (the later one wins);
  - maxDets truncation: one image with 130 detections of one category (cut to 100 per image and
    category), images with 12 to 20 detections of a category (AR10 < AR100), several boxes per image
    (AR1);
  - crowd regions absorbing several detections, a category without ground truth, detections of a
    category id that is not in the categories (ignored), an image without ground truth.

Usage: pip install --retries 0 --timeout 5 pycocotools && python3 scripts/make_coco_golden.py
"""

import contextlib
import io
import json
import os
import sys

import numpy as np
import pycocotools
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

OUT = os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'golden', 'coco', 'coco_ties_maxdets.json')
rng = np.random.RandomState(20261202)
W, H = 640, 480
images = [{'id': i, 'width': W, 'height': H} for i in range(1, 13)]
categories = [{'id': c, 'name': f'c{c}'} for c in (1, 2, 3, 4)]  # 4 has no ground truth
anns, dets = [], []


def rbox(min_side, max_side):
    w = float(np.round(rng.uniform(min_side, max_side), 2))
    h = float(np.round(rng.uniform(min_side, max_side), 2))
    x = float(np.round(rng.uniform(0, W - w), 2))
    y = float(np.round(rng.uniform(0, H - h), 2))
    return [x, y, w, h]


def jitter(b, s):
    x, y, w, h = b
    d = rng.normal(0, s * max(w, h), 4)
    return [float(np.round(v, 2)) for v in (x + d[0], y + d[1], max(1.0, w + d[2]), max(1.0, h + d[3]))]


def add_gt(img, cat, b, crowd=0, area=None):
    anns.append({'id': len(anns) + 1, 'image_id': img, 'category_id': cat, 'bbox': b,
                 'area': float(np.round(b[2] * b[3], 4)) if area is None else area, 'iscrowd': crowd})


def add_det(img, cat, b, score):
    dets.append({'image_id': img, 'category_id': cat, 'bbox': b, 'score': score})


scores_pool = [0.9, 0.8, 0.7, 0.5, 0.3]  # few distinct values: many exact ties
for img in range(1, 12):
    for cat in (1, 2, 3):
        n = int(rng.randint(0, 5))
        for _ in range(n):
            size = [(4, 30), (33, 90), (100, 250)][rng.randint(0, 3)]
            b = rbox(*size)
            # some annotations carry a smaller (mask-like) area than their box
            area = float(np.round(b[2] * b[3] * 0.6, 4)) if rng.rand() < 0.2 else None
            add_gt(img, cat, b, area=area)
            if rng.rand() < 0.8:
                add_det(img, cat, jitter(b, 0.08), float(rng.choice(scores_pool)))
            if rng.rand() < 0.3:
                add_det(img, cat, jitter(b, 0.2), float(rng.choice(scores_pool)))
        for _ in range(int(rng.randint(0, 3))):
            add_det(img, cat, rbox(5, 120), float(rng.choice(scores_pool)))

# Image 3: a crowd region that absorbs several detections.
crowd = [200.0, 150.0, 220.0, 160.0]
add_gt(3, 1, crowd, crowd=1)
for k in range(4):
    add_det(3, 1, [210.0 + 40 * k, 160.0 + 20 * k, 40.0, 40.0], 0.6)

# Image 4: one detection with exactly equal IoU to two ground truths (the later one wins).
add_gt(4, 2, [100.0, 100.0, 50.0, 50.0])
add_gt(4, 2, [120.0, 100.0, 50.0, 50.0])
add_det(4, 2, [110.0, 100.0, 50.0, 50.0], 0.95)

# Images 5..7: 12 to 20 detections of category 3 on 15 ground truths (AR10 < AR100).
for img, nd in ((5, 12), (6, 16), (7, 20)):
    boxes = [rbox(20, 60) for _ in range(15)]
    for b in boxes:
        add_gt(img, 3, b)
    for b in boxes[:nd]:
        add_det(img, 3, jitter(b, 0.05), float(np.round(rng.uniform(0.1, 1.0), 1)))
    for _ in range(max(0, nd - 15)):
        add_det(img, 3, rbox(20, 60), 0.5)

# Image 8: 130 detections of category 1 on 110 ground truths (cut to the top 100).
boxes = [[float(20 + 40 * (k % 15)), float(10 + 30 * (k // 15)), 30.0, 24.0] for k in range(110)]
for b in boxes:
    add_gt(8, 1, b)
for k, b in enumerate(boxes):
    add_det(8, 1, jitter(b, 0.04), float(np.round(0.2 + 0.7 * ((k * 37) % 110) / 110, 2)))
for _ in range(20):
    add_det(8, 1, rbox(10, 40), float(np.round(rng.uniform(0.3, 0.95), 2)))

# Category 4 has detections but no ground truth; category 9 is not a category at all.
add_det(9, 4, rbox(20, 80), 0.99)
add_det(10, 9, rbox(20, 80), 0.99)
# Image 12 has no ground truth, only detections.
add_det(12, 2, rbox(20, 80), 0.85)
add_det(12, 2, rbox(20, 80), 0.85)

gt_json = {'images': images, 'annotations': anns, 'categories': categories}
case_in = json.loads(json.dumps({'images': images, 'annotations': anns, 'categories': categories, 'detections': dets}))

with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO()
    gt.dataset = json.loads(json.dumps(gt_json))
    gt.createIndex()
    dt = gt.loadRes(json.loads(json.dumps(dets)))
    ev = COCOeval(gt, dt, 'bbox')
    ev.evaluate()
    ev.accumulate()
    ev.summarize()

names = ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10', 'AR100', 'ARs', 'ARm', 'ARl']
stats = {n: float(v) for n, v in zip(names, ev.stats)}
per_cat = {}
for k, cid in enumerate(ev.params.catIds):
    p = ev.eval['precision'][:, :, k, 0, 2]
    per_cat[str(cid)] = float(np.mean(p[p > -1])) if (p > -1).any() else -1.0

assert stats['AR10'] < stats['AR100'], 'the case must exercise maxDets 10'
assert stats['AR1'] < stats['AR10'], 'the case must exercise maxDets 1'

out = {
    'case': 'coco_ties_maxdets',
    'reference': f"pycocotools {pycocotools.__version__ if hasattr(pycocotools, '__version__') else '2.0.11'} COCOeval(iouType='bbox'), default params (iouThrs .50:.05:.95, 101 recall points, maxDets 1/10/100, areaRng all/small<32^2/medium<96^2/large); made by scripts/make_coco_golden.py",
    'format': "COCO: bbox = [x, y, width, height] in pixels of the original image; categories from 1; area = as annotated (some smaller than the box, as a mask would be); detections without 'area'",
    **case_in,
    'expected': {'stats': stats, 'stats_order': names, 'per_category_ap': per_cat},
    'tolerance': {'abs': 1e-06},
}
with open(OUT, 'w') as f:
    json.dump(out, f, indent=1)
    f.write('\n')
print(f'{OUT}: {len(images)} images, {len(anns)} annotations, {len(dets)} detections', file=sys.stderr)
print(json.dumps(stats, indent=1), json.dumps(per_cat), file=sys.stderr)
