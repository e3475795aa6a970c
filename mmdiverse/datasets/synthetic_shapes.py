"""Deterministic synthetic data sets of textured shapes, in standard layouts.

The class of an object is its *shape* (circle, square, triangle, ...); colour,
texture, size and position are random, so a model has to learn shape, and a
segmentation model has to learn where each shape is. Used by the demo
(``make demo``) and the tests, so the real mmpretrain/mmseg data pipelines run
without downloading anything.

Layouts:

* classification, as mmpretrain's ``CustomDataset`` reads ImageNet::

      ROOT/train/<class>/<class>_00000.png
      ROOT/val/<class>/<class>_00000.png
      ROOT/meta/{train,val}.txt            # "<class>/<file> <label>" lines

* segmentation, as mmseg's ``ADE20KDataset`` (``reduce_zero_label=True``)::

      ROOT/images/{training,validation}/<name>.jpg
      ROOT/annotations/{training,validation}/<name>.png   # 0 = background, k = shape k
"""

import os
import os.path as osp
from typing import Callable, Dict, List, Sequence

import numpy as np
from mmengine.utils import ProgressBar
from PIL import Image

Mask = Callable[[np.ndarray, np.ndarray, float], np.ndarray]

# Each mask takes centred coordinates (x, y) and a radius r, and returns a bool image.
SHAPES: Dict[str, Mask] = {
    'circle': lambda x, y, r: x**2 + y**2 <= r**2,
    'square': lambda x, y, r: (np.abs(x) <= 0.8 * r) & (np.abs(y) <= 0.8 * r),
    'triangle': lambda x, y, r: (y <= 0.8 * r) & (np.abs(x) <= (y + r) * 0.55),
    'cross': lambda x, y, r: (
        ((np.abs(x) <= r / 3) & (np.abs(y) <= r)) | ((np.abs(y) <= r / 3) & (np.abs(x) <= r))
    ),
    'ring': lambda x, y, r: (x**2 + y**2 <= r**2) & (x**2 + y**2 >= (0.55 * r) ** 2),
    'diamond': lambda x, y, r: np.abs(x) + np.abs(y) <= r,
}


def shape_names(num_classes: int) -> List[str]:
    """The first ``num_classes`` shape names, in label order."""
    if not 1 <= num_classes <= len(SHAPES):
        raise ValueError(f'num_classes must be in [1, {len(SHAPES)}], got {num_classes}')
    return list(SHAPES)[:num_classes]


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random two-colour stripe texture, ``(size, size, 3)`` float in [0, 1]."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    angle, freq = rng.uniform(0, np.pi), rng.uniform(0.2, 0.8)
    wave = 0.5 + 0.5 * np.sin(freq * (np.cos(angle) * xx + np.sin(angle) * yy))
    colour_a, colour_b = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    return wave[..., None] * colour_a + (1 - wave[..., None]) * colour_b


def _paint_shapes(rng: np.random.Generator, size: int, labels: Sequence[int], names: Sequence[str]):
    """Paint one textured shape per label on a textured background.

    Returns:
        tuple: ``(image (size, size, 3) uint8, label map (size, size) uint8)``
        where the label map holds ``label + 1`` on each shape and 0 elsewhere.
    """
    # A dim, low-contrast background texture, so the shapes' outlines carry the class.
    image = 0.35 * _texture(rng, size) + 0.15 * rng.uniform(0, 1, 3)
    label_map = np.zeros((size, size), np.uint8)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    for label in labels:
        radius = (
            rng.uniform(0.18, 0.32) * size if len(labels) > 1 else rng.uniform(0.28, 0.45) * size
        )
        cx, cy = rng.uniform(radius, size - radius, 2)
        mask = SHAPES[names[label]](xx - cx, yy - cy, radius)
        image[mask] = _texture(rng, size)[mask]
        label_map[mask] = label + 1
    noise = rng.normal(0, 0.03, image.shape)
    return (np.clip(image + noise, 0, 1) * 255).astype(np.uint8), label_map


def make_classification_set(
    root: str,
    num_classes: int = 4,
    train_per_class: int = 64,
    val_per_class: int = 16,
    img_size: int = 32,
    seed: int = 0,
) -> str:
    """Write a shape-classification set in the ImageNet folder layout.

    Args:
        root: output directory (created).
        num_classes: number of shape classes (at most ``len(SHAPES)``).
        train_per_class / val_per_class: images per class in each split.
        img_size: side of the square images in pixels.
        seed: the same seed writes the same files.

    Returns:
        str: ``root``.
    """
    names = shape_names(num_classes)
    rng = np.random.default_rng(seed)
    splits = {'train': train_per_class, 'val': val_per_class}
    progress = ProgressBar(num_classes * sum(splits.values()))
    os.makedirs(osp.join(root, 'meta'), exist_ok=True)
    for split, per_class in splits.items():
        lines = []
        for label, name in enumerate(names):
            os.makedirs(osp.join(root, split, name), exist_ok=True)
            for index in range(per_class):
                image, _ = _paint_shapes(rng, img_size, [label], names)
                relative = f'{name}/{name}_{index:05d}.png'
                Image.fromarray(image).save(osp.join(root, split, relative))
                lines.append(f'{relative} {label}\n')
                progress.update()
        with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
            f.writelines(lines)
    print()
    return root


def make_segmentation_set(
    root: str,
    num_classes: int = 4,
    num_train: int = 64,
    num_val: int = 16,
    img_size: int = 64,
    max_objects: int = 3,
    seed: int = 0,
) -> str:
    """Write a shape-segmentation set in the ADE20K layout.

    Label maps hold 0 for background and ``k`` for shape ``k`` (1-based), as
    ADE20K does, so mmseg reads them with ``reduce_zero_label=True``.

    Args:
        root: output directory (created).
        num_classes: number of shape classes.
        num_train / num_val: images in each split.
        img_size: side of the square images in pixels.
        max_objects: each image holds 1..max_objects shapes.
        seed: the same seed writes the same files.

    Returns:
        str: ``root``.
    """
    names = shape_names(num_classes)
    rng = np.random.default_rng(seed)
    splits = {'training': num_train, 'validation': num_val}
    progress = ProgressBar(sum(splits.values()))
    for split, count in splits.items():
        os.makedirs(osp.join(root, 'images', split), exist_ok=True)
        os.makedirs(osp.join(root, 'annotations', split), exist_ok=True)
        for index in range(count):
            labels = rng.integers(0, num_classes, rng.integers(1, max_objects + 1))
            image, label_map = _paint_shapes(rng, img_size, labels.tolist(), names)
            name = f'shapes_{split}_{index:05d}'
            Image.fromarray(image).save(osp.join(root, 'images', split, name + '.jpg'), quality=95)
            Image.fromarray(label_map).save(osp.join(root, 'annotations', split, name + '.png'))
            progress.update()
    print()
    return root
