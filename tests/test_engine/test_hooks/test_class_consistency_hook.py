"""ClassConsistencyHook: heads, label checks and data sets agree on the classes."""

import os
from types import SimpleNamespace

import pytest
from mmengine.registry import DefaultScope
from torch import nn

import mmdiverse  # noqa: F401
from mmdiverse.datasets import make_classification_set, make_segmentation_set
from mmdiverse.engine.hooks import ClassConsistencyHook, ClassMismatchError

SEG_CLASSES = ('circle', 'square', 'triangle', 'cross')


@pytest.fixture(scope='module')
def cls_root(tmp_path_factory):
    return make_classification_set(
        str(tmp_path_factory.mktemp('cls')),
        num_classes=4,
        train_per_class=2,
        val_per_class=1,
        img_size=16,
    )


@pytest.fixture(scope='module')
def seg_root(tmp_path_factory):
    return make_segmentation_set(
        str(tmp_path_factory.mktemp('seg')), num_classes=4, num_train=2, num_val=1, img_size=16
    )


def _cls_dataset(root, split, **kwargs):
    from mmpretrain.registry import DATASETS

    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return DATASETS.build(
            dict(type='CustomDataset', data_root=root, data_prefix=split, pipeline=[], **kwargs)
        )


def _seg_dataset(root, num_classes=4):
    from mmseg.registry import DATASETS

    with DefaultScope.overwrite_default_scope('mmseg'):
        return DATASETS.build(
            dict(
                type='BaseSegDataset',
                data_root=root,
                metainfo=dict(classes=SEG_CLASSES),
                img_suffix='.jpg',
                seg_map_suffix='.png',
                reduce_zero_label=True,
                data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
                pipeline=[
                    dict(type='CheckedLoadImageFromFile'),
                    dict(
                        type='CheckedLoadAnnotations',
                        reduce_zero_label=True,
                        num_classes=num_classes,
                    ),
                ],
            )
        )


def _runner(model, train=None, val=None, test=None):
    def loader(dataset):
        return None if dataset is None else SimpleNamespace(dataset=dataset)

    runner = SimpleNamespace(
        model=model, train_dataloader=loader(train), test_dataloader=loader(test)
    )
    if val is not None:
        runner.val_dataloader = loader(val)
    return runner


def _head(num_classes):
    return SimpleNamespace(num_classes=num_classes)


def test_a_classifier_head_that_does_not_count_the_classes_is_refused(cls_root):
    train = _cls_dataset(cls_root, 'train')
    model = SimpleNamespace(head=_head(5), data_preprocessor=SimpleNamespace(num_classes=4))
    with pytest.raises(
        ClassMismatchError,
        match=r'model\.head\.num_classes=5 but '
        r'train_dataloader\.dataset \(.*train\) has 4 classes \(circle, '
        r'cross, square, triangle\); set model\.head\.num_classes=4',
    ):
        ClassConsistencyHook().before_train(_runner(model, train))
    model.head = _head(4)
    ClassConsistencyHook().before_train(_runner(model, train, _cls_dataset(cls_root, 'val')))
    model.data_preprocessor.num_classes = 3
    with pytest.raises(ClassMismatchError, match=r'model\.data_preprocessor\.num_classes=3'):
        ClassConsistencyHook().before_train(_runner(model, train))


def test_without_a_class_list_the_labels_bound_num_classes(cls_root):
    train = _cls_dataset(cls_root, 'train', ann_file='meta/train.txt')  # no classes given
    assert 'classes' not in train.metainfo
    ClassConsistencyHook().before_train(_runner(SimpleNamespace(head=_head(4)), train))
    with pytest.raises(
        ClassMismatchError,
        match=r'model\.head\.num_classes=3 but the labels '
        r'of train_dataloader\.dataset .* go up to 3',
    ):
        ClassConsistencyHook().before_train(_runner(SimpleNamespace(head=_head(3)), train))


def test_segmentation_heads_and_label_checks_name_their_keys(seg_root):
    dataset = _seg_dataset(seg_root)
    model = SimpleNamespace(decode_head=_head(4), auxiliary_head=_head(4))
    ClassConsistencyHook().before_train(_runner(model, dataset))
    model.auxiliary_head = nn.ModuleList([nn.Module(), nn.Module()])
    model.auxiliary_head[0].num_classes, model.auxiliary_head[1].num_classes = 4, 7
    with pytest.raises(
        ClassMismatchError,
        match=r'model\.auxiliary_head\[1\]\.num_classes=7 '
        r'but train_dataloader.dataset .* has 4 classes',
    ):
        ClassConsistencyHook().before_train(_runner(model, dataset))
    model = SimpleNamespace(decode_head=_head(5))
    with pytest.raises(ClassMismatchError, match=r'model\.decode_head\.num_classes=5'):
        ClassConsistencyHook().before_test(_runner(model, test=dataset))
    with pytest.raises(
        ClassMismatchError,
        match=r'train_dataloader\.dataset\.pipeline\[1\]\.'
        r'num_classes=5 \(CheckedLoadAnnotations\)',
    ):
        ClassConsistencyHook().before_train(
            _runner(SimpleNamespace(decode_head=_head(4)), _seg_dataset(seg_root, num_classes=5))
        )


def test_an_empty_class_folder_sorted_first_is_refused_naming_both_folders(tmp_path):
    root = make_classification_set(
        str(tmp_path), num_classes=3, train_per_class=1, val_per_class=1, img_size=16
    )
    os.makedirs(os.path.join(root, 'train', 'aaa_empty'))
    train, val = _cls_dataset(root, 'train'), _cls_dataset(root, 'val')
    assert train.metainfo['classes'][0] == 'aaa_empty'  # every other index is shifted
    runner = _runner(SimpleNamespace(head=_head(3)), train, val)
    with pytest.raises(ClassMismatchError) as error:
        ClassConsistencyHook().before_train(runner)
    message = str(error.value)
    assert 'model.head.num_classes=3 but train_dataloader.dataset' in message  # the head first
    runner.model.head = _head(4)
    with pytest.raises(
        ClassMismatchError,
        match=r'train_dataloader\.dataset \(.*train\) and '
        r'val_dataloader\.dataset \(.*val\) list different classes.*only in '
        r"train_dataloader\.dataset: \['aaa_empty'\]",
    ):
        ClassConsistencyHook().before_train(runner)


def test_runs_without_validation_or_class_lists_pass():
    ClassConsistencyHook().before_train(_runner(SimpleNamespace(head=_head(4))))
    ClassConsistencyHook().before_train(_runner(nn.Linear(1, 1)))
