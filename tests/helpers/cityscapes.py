"""A tiny synthetic Cityscapes set in the layout cityscapesscripts and mmseg expect:
``leftImg8bit/<split>/<city>/*_leftImg8bit.png``, ``gtFine/<split>/<city>/*_gtFine_polygons.json``
and the matching ``*_gtFine_labelIds.png``."""

import json
import os
import os.path as osp

import numpy as np
from PIL import Image, ImageDraw

#: (Cityscapes label name, id, train id) of the classes painted; 'ego vehicle'
#: is not evaluated (train id 255).
CLASSES = [
    ('road', 7, 0),
    ('sidewalk', 8, 1),
    ('building', 11, 2),
    ('vegetation', 21, 8),
    ('sky', 23, 10),
    ('person', 24, 11),
    ('car', 26, 13),
    ('ego vehicle', 1, 255),
]
CITIES = {'train': 'tubingen', 'val': 'frankfurt'}


def _scene(rng, width, height):
    """Polygons (label, [(x, y), ...]) in drawing order: later ones cover earlier ones."""
    horizon = int(height * rng.uniform(0.35, 0.5))
    objects = [('sky', [(0, 0), (width, 0), (width, horizon), (0, horizon)])]
    x = 0
    while x < width:  # buildings along the horizon
        w = int(rng.integers(width // 8, width // 4))
        top = int(rng.integers(height // 10, horizon))
        objects.append(('building', [(x, top), (x + w, top), (x + w, horizon), (x, horizon)]))
        x += w + int(rng.integers(0, width // 10))
    tree = int(rng.integers(0, width - width // 6))
    objects.append(
        (
            'vegetation',
            [
                (tree, horizon - height // 5),
                (tree + width // 6, horizon - height // 8),
                (tree + width // 8, horizon),
                (tree, horizon),
            ],
        )
    )
    objects.append(('sidewalk', [(0, horizon), (width, horizon), (width, height), (0, height)]))
    objects.append(
        ('road', [(width // 5, horizon), (4 * width // 5, horizon), (width, height), (0, height)])
    )
    for _ in range(int(rng.integers(1, 3))):
        cx = int(rng.integers(width // 6, 5 * width // 6))
        cy = int(rng.integers(horizon + 4, height - 8))
        w, h = int(rng.integers(10, 24)), int(rng.integers(6, 12))
        objects.append(
            (
                'car',
                [
                    (cx - w // 2, cy - h // 2),
                    (cx + w // 2, cy - h // 2),
                    (cx + w // 2, cy + h // 2),
                    (cx - w // 2, cy + h // 2),
                ],
            )
        )
    px = int(rng.integers(2, width - 6))
    objects.append(
        (
            'person',
            [(px, horizon - 6), (px + 4, horizon - 6), (px + 4, horizon + 10), (px, horizon + 10)],
        )
    )
    objects.append(
        ('ego vehicle', [(0, height - 4), (width, height - 4), (width, height), (0, height)])
    )
    return objects


def make_cityscapes_set(root, num_train=8, num_val=4, width=128, height=64, seed=0):
    """Write a synthetic Cityscapes-format data set; returns ``root``."""
    rng = np.random.default_rng(seed)
    ids = {name: label_id for name, label_id, _ in CLASSES}
    colours = {name: rng.integers(0, 256, 3) for name, _, _ in CLASSES}
    for split, count in (('train', num_train), ('val', num_val)):
        city = CITIES[split]
        img_dir = osp.join(root, 'leftImg8bit', split, city)
        gt_dir = osp.join(root, 'gtFine', split, city)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(gt_dir, exist_ok=True)
        for index in range(count):
            base = f'{city}_{index:06d}_000019'
            objects = _scene(rng, width, height)
            label_ids = Image.new('L', (width, height), 0)  # 0 = 'unlabeled'
            draw = ImageDraw.Draw(label_ids)
            for name, polygon in objects:
                draw.polygon(polygon, fill=ids[name])
            label_ids.save(osp.join(gt_dir, f'{base}_gtFine_labelIds.png'))
            with open(osp.join(gt_dir, f'{base}_gtFine_polygons.json'), 'w') as f:
                json.dump(
                    {
                        'imgHeight': height,
                        'imgWidth': width,
                        'objects': [
                            {'label': n, 'polygon': [list(p) for p in poly]} for n, poly in objects
                        ],
                    },
                    f,
                )
            ids_map = np.array(label_ids)
            image = rng.normal(0, 12, (height, width, 3))
            for name, label_id in ids.items():
                image[ids_map == label_id] += colours[name]
            image = np.clip(image, 0, 255).astype(np.uint8)
            Image.fromarray(image).save(osp.join(img_dir, f'{base}_leftImg8bit.png'))
    return str(root)
