import pytest
from mmengine.config import Config

from mmdiverse.apis import check_data_roots


def test_missing_data_root_names_key_path_and_layout(tmp_path):
    cfg = Config.fromfile('configs/demo/vit_tiny_shapes.py')
    missing = str(tmp_path / 'nowhere')
    cfg.val_dataloader.dataset.data_root = missing
    cfg.train_dataloader.dataset.data_root = str(tmp_path)
    with pytest.raises(
        FileNotFoundError,
        match=r'val_dataloader\.dataset\.data_root=.*nowhere.*CustomDataset '
        r'expects: <split>/<class>',
    ):
        check_data_roots(cfg)


def test_segmentation_layout_is_quoted(tmp_path):
    cfg = Config.fromfile('configs/seg/upernet_swin_l_ade20k.py')
    cfg.train_dataloader.dataset.data_root = str(tmp_path / 'ade')
    with pytest.raises(FileNotFoundError, match=r'ADE20KDataset expects: images/\{training'):
        check_data_roots(cfg)


def test_existing_roots_pass(tmp_path):
    cfg = Config.fromfile('configs/demo/vit_tiny_shapes.py')
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = str(tmp_path)
    check_data_roots(cfg)


def test_missing_backbone_checkpoint_names_the_key(tmp_path):
    from mmdiverse.apis import check_checkpoint_paths

    cfg = Config.fromfile('configs/seg/upernet_swin_l_ade20k.py')
    cfg.model.backbone.init_cfg.checkpoint = str(tmp_path / 'missing.pth')
    with pytest.raises(
        FileNotFoundError, match=r'model\.backbone\.init_cfg\.checkpoint=.*missing\.pth'
    ):
        check_checkpoint_paths(cfg)
    check_checkpoint_paths(cfg, init_cfg=False)  # what tools/test.py checks
    (tmp_path / 'missing.pth').write_bytes(b'')
    check_checkpoint_paths(cfg)
    cfg.load_from = str(tmp_path / 'tested.pth')
    with pytest.raises(FileNotFoundError, match=r'load_from=.*tested\.pth'):
        check_checkpoint_paths(cfg, init_cfg=False)


def test_a_fresh_start_over_a_previous_run_is_refused_unless_asked(tmp_path):
    from mmdiverse.apis import check_previous_run

    cfg = Config(dict(work_dir=str(tmp_path)))
    check_previous_run(cfg)  # nothing there yet
    (tmp_path / 'epoch_7.pth').write_bytes(b'weights')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_7.pth'))
    with pytest.raises(
        FileExistsError,
        match=r'previous run \(last: .*epoch_7\.pth\)\. '
        r'Pass --resume',
    ):
        check_previous_run(cfg)
    (tmp_path / 'last_checkpoint').write_text('')  # emptied by a killed writer
    with pytest.raises(
        FileExistsError,
        match=r'previous run \(last: unknown: .*last_checkpoint '
        r'is empty',
    ):
        check_previous_run(cfg)
    check_previous_run(cfg, overwrite=True)
    cfg.resume = True
    check_previous_run(cfg)


def test_a_data_root_that_is_a_file_is_reported_as_such(tmp_path):
    cfg = Config.fromfile('configs/demo/vit_tiny_shapes.py')
    (tmp_path / 'shapes.tar').write_bytes(b'')
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = str(tmp_path / 'shapes.tar')
    with pytest.raises(
        NotADirectoryError,
        match=r'train_dataloader\.dataset\.data_root=.*'
        r"shapes\.tar' is a file, expected a directory",
    ):
        check_data_roots(cfg)


def test_class_check_is_added_once():
    from mmdiverse.apis import add_class_check

    cfg = Config(dict(custom_hooks=[dict(type='NonFiniteLossHook')]))
    add_class_check(cfg)
    add_class_check(cfg)
    assert [hook['type'] for hook in cfg.custom_hooks] == [
        'NonFiniteLossHook',
        'ClassConsistencyHook',
    ]
    cfg = Config(dict())
    add_class_check(cfg)
    assert cfg.custom_hooks == [dict(type='ClassConsistencyHook')]
