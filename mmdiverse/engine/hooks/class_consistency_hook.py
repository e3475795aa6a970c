"""Refuse a run whose heads, label checks and data sets disagree on the classes."""

from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmpretrain.utils import get_ori_model
from torch import nn

from ...datasets.transforms import CheckSegLabels


class ClassMismatchError(ValueError):
    """The config's class counts or the data sets' class lists disagree."""


@HOOKS.register_module()
class ClassConsistencyHook(Hook):
    """Check the classes before the first iteration, naming the config keys.

    A head whose ``num_classes`` differs from the data fails only inside the
    first loss (torch's ``0D or 1D target tensor expected`` or ``Class values
    must be smaller than num_classes``), and a training set whose class list
    differs from the validation set's (an empty class folder sorted first
    shifts every index of the other folders) is not noticed at all. Before
    training (and before testing) this hook compares:

    * every ``num_classes`` of the model -- ``model.head`` (mmpretrain),
      ``model.decode_head`` and ``model.auxiliary_head`` (mmseg), a
      ``model.data_preprocessor`` with ``num_classes`` (mmpretrain's
      one-hot targets for Mixup/CutMix) -- and of the label checks in the
      pipelines (``CheckedLoadAnnotations`` / ``CheckSegLabels``) with the
      number of classes of the data set (``dataset.metainfo['classes']``);
    * the class lists of the training and validation data sets, which must be
      equal, in order.

    ``tools/train.py`` and ``tools/test.py`` add it to every run; with other
    tools name it in the config: ``custom_hooks = [dict(type='ClassConsistencyHook')]``.

    Raises:
        ClassMismatchError: naming the config key, or both data folders.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        train = _dataset_of(runner, 'train')
        self._check_model(runner, train, 'train')
        val = _dataset_of(runner, 'val')
        if train is not None and val is not None:
            check_same_classes(train, 'train_dataloader.dataset', val, 'val_dataloader.dataset')
        if val is not None:
            check_pipeline(val, 'val')

    def before_test(self, runner) -> None:
        self._check_model(runner, _dataset_of(runner, 'test'), 'test')

    def _check_model(self, runner, dataset, split: str) -> None:
        if dataset is None:
            return
        where = f'{split}_dataloader.dataset ({_folder(dataset)})'
        classes = _classes(dataset)
        if classes is None:  # no class list (an annotation file without metainfo): labels
            top = _largest_label(dataset)
            for key, value in model_num_classes(get_ori_model(runner.model)):
                if top is not None and value <= top:
                    raise ClassMismatchError(
                        f'{key}={value} but the labels of {where} go up to {top}; '
                        f'set {key}={top + 1} (or more)'
                    )
            return
        for key, value in model_num_classes(get_ori_model(runner.model)):
            if value != len(classes):
                raise ClassMismatchError(
                    f'{key}={value} but {where} has {len(classes)} classes '
                    f'{_short(classes)}; set {key}={len(classes)}'
                )
        check_pipeline(dataset, split)


def model_num_classes(model) -> List[Tuple[str, int]]:
    """``(config key, num_classes)`` of every head and one-hot preprocessor of ``model``."""
    found = []
    for attr in ('head', 'decode_head', 'auxiliary_head'):
        heads = getattr(model, attr, None)
        if heads is None:
            continue
        if isinstance(heads, nn.ModuleList):
            found += [
                (f'model.{attr}[{i}].num_classes', h.num_classes)
                for i, h in enumerate(heads)
                if isinstance(getattr(h, 'num_classes', None), int)
            ]
        elif isinstance(getattr(heads, 'num_classes', None), int):
            found.append((f'model.{attr}.num_classes', heads.num_classes))
    preprocessor = getattr(model, 'data_preprocessor', None)
    if isinstance(getattr(preprocessor, 'num_classes', None), int):
        found.append(('model.data_preprocessor.num_classes', preprocessor.num_classes))
    return found


def check_pipeline(dataset, split: str) -> None:
    """The label checks of ``dataset``'s pipeline count its classes."""
    classes = _classes(dataset)
    transforms = getattr(getattr(dataset, 'pipeline', None), 'transforms', [])
    if classes is None:
        return
    for index, transform in enumerate(transforms):
        check = getattr(transform, 'check_labels', transform)  # CheckedLoadAnnotations
        value = getattr(check, 'num_classes', None)
        if isinstance(check, CheckSegLabels) and value != len(classes):
            key = f'{split}_dataloader.dataset.pipeline[{index}].num_classes'
            raise ClassMismatchError(
                f'{key}={value} ({type(transform).__name__}) but {split}_dataloader.dataset '
                f'({_folder(dataset)}) has {len(classes)} classes {_short(classes)}'
            )


def check_same_classes(first, first_key: str, second, second_key: str) -> None:
    """Two data sets list the same classes in the same order (so an index means one class)."""
    a, b = _classes(first), _classes(second)
    folders = [getattr(d, 'folder_to_idx', None) for d in (first, second)]
    if all(folders):  # folder layout: the folder -> index maps must agree
        a, b = (tuple(sorted(f, key=f.get)) for f in folders)
    if a is None or b is None or list(a) == list(b):
        return
    only_a = [c for c in a if c not in b]
    only_b = [c for c in b if c not in a]
    if only_a or only_b:
        detail = (
            f'only in {first_key}: {only_a} (an empty class folder?); '
            f'only in {second_key}: {only_b}'
        )
    else:
        detail = f'the same classes in a different order: {_short(a)} vs {_short(b)}'
    raise ClassMismatchError(
        f'{first_key} ({_folder(first)}) and {second_key} ({_folder(second)}) list different '
        f'classes, so the same label index would mean different classes: {detail}. Make the '
        'class folders agree, or give both the same metainfo=dict(classes=...)'
    )


def _dataset_of(runner, split: str):
    """The data set of the run's ``split`` loop (built by then), or None without one."""
    try:
        dataloader = getattr(runner, f'{split}_dataloader')
    except AttributeError:  # the run has no such loop (val_cfg=None)
        return None
    return getattr(dataloader, 'dataset', None)


def _classes(dataset) -> Optional[Sequence[str]]:
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
    return tuple(classes) if classes else None


def _largest_label(dataset) -> Optional[int]:
    get_gt_labels = getattr(dataset, 'get_gt_labels', None)
    if get_gt_labels is None:
        return None
    labels = [
        int(label)
        for label in np.asarray(get_gt_labels(), dtype=object).ravel()
        if np.ndim(label) == 0
    ]
    return max(labels) if labels else None


def _folder(dataset) -> str:
    while not hasattr(dataset, 'data_prefix') and hasattr(dataset, 'dataset'):
        dataset = dataset.dataset  # RepeatDataset and other wrappers
    prefix = getattr(dataset, 'data_prefix', None) or {}
    return str(
        prefix.get('img_path') or getattr(dataset, 'data_root', '') or type(dataset).__name__
    )


def _short(classes: Sequence[str]) -> str:
    shown = ', '.join(map(str, classes[:6]))
    return f'({shown}{", ..." if len(classes) > 6 else ""})'
