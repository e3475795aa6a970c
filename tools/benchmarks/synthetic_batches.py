"""Synthetic training batches shaped as a config's dataloader delivers them.

Used by ``benchmark_step.py``: random uint8 images ``(3, H, W)`` and random
targets, packed as ``PackInputs`` (mmpretrain: ``DataSample`` with
``gt_label``) or ``PackSegInputs`` (mmseg: ``SegDataSample`` with a
``gt_sem_seg`` label map of ``H x W``, 5 % of it the ignore index 255) pack
them (a self-supervised model, whose config names no classes: a
``DataSample`` without labels, with the ``mask`` of the train pipeline's
``SimMIMMaskGenerator`` if it has one), then collated by the config's
``train_dataloader.collate_fn`` (mmengine's ``pseudo_collate`` by default).
"""

import numpy as np
import torch


def _pair(size, key):
    if isinstance(size, int):
        return size, size
    size = tuple(int(s) for s in size)
    if len(size) == 1:
        return size[0], size[0]
    if len(size) != 2:
        raise ValueError(f'{key}={size!r}: expected an int or (H, W)')
    return size


def config_img_size(cfg):
    """``(H, W)`` a training batch of ``cfg`` has.

    Segmentors: ``model.data_preprocessor.size`` (the crop), else
    ``crop_size``. Classifiers: ``model.backbone.img_size``, else the
    ``scale`` of the train pipeline's ``RandomResizedCrop``.
    """
    model = cfg.model
    preprocessor = model.get('data_preprocessor') or cfg.get('data_preprocessor') or {}
    if preprocessor.get('size') is not None:
        return _pair(preprocessor['size'], 'model.data_preprocessor.size')
    if cfg.get('crop_size') is not None:
        return _pair(cfg.crop_size, 'crop_size')
    if model.get('backbone', {}).get('img_size') is not None:
        return _pair(model.backbone.img_size, 'model.backbone.img_size')
    pipeline = cfg.get('train_dataloader', {}).get('dataset', {}).get('pipeline', [])
    for transform in pipeline:
        if transform.get('type', '').endswith('RandomResizedCrop'):
            return _pair(transform['scale'], 'train_pipeline RandomResizedCrop.scale')
    raise ValueError(
        f'{cfg.filename}: cannot tell the input size (no model.backbone.img_size, '
        'data_preprocessor.size, crop_size or RandomResizedCrop); pass --img-size'
    )


def num_classes_of(model_cfg):
    """Classes of a classifier (``head.num_classes``) or a segmentor
    (``decode_head.num_classes``); ``(None, None)`` for a model without
    classes (self-supervised)."""
    for key in ('head', 'decode_head'):
        head = model_cfg.get(key)
        if head and head.get('num_classes') is not None:
            return int(head['num_classes']), key
    return None, None


def simmim_masks(cfg, count, seed):
    """``count`` masks of the train pipeline's ``SimMIMMaskGenerator``, or None."""
    pipeline = cfg.get('train_dataloader', {}).get('dataset', {}).get('pipeline', [])
    for transform in pipeline:
        if transform.get('type', '').endswith('SimMIMMaskGenerator'):
            from mmpretrain.datasets.transforms import SimMIMMaskGenerator

            args = {k: v for k, v in transform.items() if k != 'type'}
            generator, state = SimMIMMaskGenerator(**args), np.random.get_state()
            np.random.seed(seed)
            try:
                return [torch.from_numpy(generator.transform({})['mask']) for _ in range(count)]
            finally:
                np.random.set_state(state)
    return None


class SyntheticBatches:
    """Fresh data dicts for ``model.train_step`` (new data samples each time:
    the preprocessor writes mixed scores and per-patch targets into them).

    Args:
        cfg (Config): The config (``model``, ``train_dataloader``).
        model (nn.Module): The built model (tells a segmentor apart).
        batch_size (int, optional): Images per batch; defaults to
            ``train_dataloader.batch_size``.
        img_size (sequence[int], optional): ``(H, W)`` or ``(S, )``;
            defaults to :func:`config_img_size`.
        seed (int): Seed of the images and targets.
    """

    def __init__(self, cfg, model, batch_size=None, img_size=None, seed=0):
        from mmengine.registry import FUNCTIONS

        self.img_size = _pair(img_size, '--img-size') if img_size else config_img_size(cfg)
        self.batch_size = int(batch_size or cfg.train_dataloader.batch_size)
        self.num_classes, head_key = num_classes_of(cfg.model)
        self.segmentation = head_key == 'decode_head'
        if self.segmentation and self.batch_size < 2:
            # UperNet's pyramid pooling normalises 1x1 pooled maps: BatchNorm in
            # training needs more than one value per channel.
            raise ValueError(
                f'{cfg.filename}: a segmentation training step needs a batch '
                f'of at least 2 images (BatchNorm), got --batch-size '
                f'{self.batch_size}'
            )
        collate_cfg = cfg.train_dataloader.get('collate_fn') or dict(type='pseudo_collate')
        self.collate = FUNCTIONS.get(collate_cfg['type'])
        if self.collate is None:
            raise ValueError(
                f'train_dataloader.collate_fn.type={collate_cfg["type"]!r} '
                'is not in mmengine FUNCTIONS'
            )
        gen = torch.Generator().manual_seed(seed)
        h, w = self.img_size
        self.images = [
            torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=gen)
            for _ in range(self.batch_size)
        ]
        self.masks = simmim_masks(cfg, self.batch_size, seed)
        if self.num_classes is None:
            self.targets = None
        elif self.segmentation:
            self.targets = []
            for _ in range(self.batch_size):
                seg = torch.randint(0, self.num_classes, (1, h, w), generator=gen)
                seg[torch.rand((1, h, w), generator=gen) < 0.05] = 255
                self.targets.append(seg)
        else:
            self.targets = torch.randint(
                0, self.num_classes, (self.batch_size,), generator=gen
            ).tolist()

    def _sample(self, i):
        if self.segmentation:
            from mmengine.structures import PixelData
            from mmseg.structures import SegDataSample

            h, w = self.img_size
            sample = SegDataSample(
                metainfo=dict(
                    img_shape=(h, w),
                    ori_shape=(h, w),
                    pad_shape=(h, w),
                    scale_factor=(1.0, 1.0),
                    flip=False,
                    flip_direction=None,
                    reduce_zero_label=False,
                )
            )
            sample.gt_sem_seg = PixelData(data=self.targets[i].clone())
            return sample
        from mmpretrain.structures import DataSample

        h, w = self.img_size
        sample = DataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
        if self.masks is not None:
            sample.set_field(self.masks[i].clone(), 'mask')
        if self.targets is None:
            return sample
        return sample.set_gt_label(self.targets[i])

    def next(self):
        """A collated batch: ``dict(inputs=..., data_samples=[...])``."""
        return self.collate(
            [
                dict(inputs=self.images[i], data_samples=self._sample(i))
                for i in range(self.batch_size)
            ]
        )
