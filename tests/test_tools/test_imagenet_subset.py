"""tools/dataset_converters/imagenet_subset.py on a fake full-ImageNet folder: the 100
listed classes plus distractors, a few images each."""

import os
import os.path as osp

import pytest

from tools.dataset_converters import imagenet_subset

LISTED = imagenet_subset.read_class_list(imagenet_subset.DEFAULT_CLASSES).wnids
DISTRACTORS = ['n01440764', 'n01443537', 'n15075141']  # ILSVRC classes not in the list


def fake_imagenet(root, train_per_class=3, val_per_class=2, flat_val=False, skip=()):
    """ImageNet's layout with empty files for images (the tool never decodes them)."""
    wnids = sorted(set(LISTED) | set(DISTRACTORS))
    meta = []
    for wnid in wnids:
        if wnid in skip:
            continue
        os.makedirs(root / 'train' / wnid)
        for i in range(train_per_class):
            (root / 'train' / wnid / f'{wnid}_{i}.JPEG').write_bytes(b'')
        (root / 'train' / wnid / 'notes.txt').write_text('not an image')
        for i in range(val_per_class):
            name = f'ILSVRC2012_val_{wnid}_{i}.JPEG'
            if flat_val:
                os.makedirs(root / 'val', exist_ok=True)
                (root / 'val' / name).write_bytes(b'')
                meta.append(f'{name} {wnids.index(wnid)}')
            else:
                os.makedirs(root / 'val' / wnid, exist_ok=True)
                (root / 'val' / wnid / name).write_bytes(b'')
    if flat_val:
        os.makedirs(root / 'meta')
        (root / 'meta' / 'val.txt').write_text('\n'.join(meta) + '\n')
    return str(root)


def read_lines(path):
    return open(path).read().splitlines()


def test_the_shipped_list_is_cmc_imagenet100():
    classes = imagenet_subset.read_class_list(imagenet_subset.DEFAULT_CLASSES)
    assert len(classes.wnids) == len(set(classes.wnids)) == 100
    assert classes.wnids[:2] == ['n02869837', 'n01749939'] and classes.wnids[-1] == 'n02090622'
    assert (classes.expected_train, classes.expected_val_per_class) == (126689, 50)
    assert 'HobbitLong/CMC' in open(imagenet_subset.DEFAULT_CLASSES).read()


@pytest.mark.parametrize('flat_val', [False, True])
def test_subset_layout_and_lists(tmp_path, flat_val):
    root = fake_imagenet(tmp_path / 'imagenet', flat_val=flat_val)
    out = str(tmp_path / 'in100')
    labels = imagenet_subset.main([root, out, '--counts', 'any'])
    assert labels == sorted(LISTED)  # ImageFolder's numbering
    assert sorted(os.listdir(osp.join(out, 'train'))) == sorted(LISTED)  # no distractor
    assert sorted(os.listdir(osp.join(out, 'val'))) == sorted(LISTED)
    assert osp.islink(osp.join(out, 'train', LISTED[0]))
    assert osp.realpath(osp.join(out, 'train', LISTED[0])) == osp.join(root, 'train', LISTED[0])
    assert read_lines(osp.join(out, 'meta', 'classes.txt')) == labels
    train = read_lines(osp.join(out, 'meta', 'train.txt'))
    val = read_lines(osp.join(out, 'meta', 'val.txt'))
    assert len(train) == 300 and len(val) == 200  # images only, no notes.txt
    for line in train + val:
        path, label = line.split()
        wnid = path.split('/')[0]
        assert labels[int(label)] == wnid
    for line in train[:3] + val[-3:]:
        split = 'train' if line in train else 'val'
        assert osp.isfile(osp.join(out, split, line.split()[0]))  # every listed file resolves


def test_mmpretrain_reads_the_subset(tmp_path):
    from mmpretrain.datasets import ImageNet

    root = fake_imagenet(tmp_path / 'imagenet')
    out = str(tmp_path / 'in100')
    imagenet_subset.main([root, out, '--counts', 'any'])
    dataset = ImageNet(
        data_root=out, split='val', classes=osp.join(out, 'meta', 'classes.txt'), lazy_init=False
    )
    assert len(dataset) == 200 and len(dataset.metainfo['classes']) == 100
    info = dataset.get_data_info(0)
    assert (
        osp.basename(osp.dirname(info['img_path'])) == dataset.metainfo['classes'][info['gt_label']]
    )


def test_refuses_missing_classes_naming_them(tmp_path):
    root = fake_imagenet(tmp_path / 'imagenet', skip=LISTED[:2])
    with pytest.raises(
        SystemExit,
        match=rf'2 of 100 listed classes are missing from '
        rf'.*train: {LISTED[0]}, {LISTED[1]}',
    ):
        imagenet_subset.main([root, str(tmp_path / 'out'), '--counts', 'any'])
    assert not osp.exists(tmp_path / 'out')


def test_refuses_counts_other_than_ilsvrc2012(tmp_path):
    root = fake_imagenet(tmp_path / 'imagenet')
    with pytest.raises(SystemExit) as error:
        imagenet_subset.main([root, str(tmp_path / 'out')])
    message = str(error.value)
    assert f"outside ILSVRC-2012's 732-1300 per class: {LISTED[0]} (3)" in message
    assert '300 training images in all, the list expects 126689' in message
    assert f'validation images other than 50 per class: {LISTED[0]} (2)' in message
    assert not osp.exists(tmp_path / 'out')


def test_refuses_empty_class_existing_output_and_bad_lists(tmp_path):
    root = fake_imagenet(tmp_path / 'imagenet')
    for name in os.listdir(osp.join(root, 'val', LISTED[5])):
        os.remove(osp.join(root, 'val', LISTED[5], name))
    with pytest.raises(SystemExit, match=f'no training or no validation image: {LISTED[5]}'):
        imagenet_subset.main([root, str(tmp_path / 'out'), '--counts', 'any'])
    (tmp_path / 'out').mkdir()
    with pytest.raises(SystemExit, match='exists: give --overwrite'):
        imagenet_subset.main([root, str(tmp_path / 'out')])
    bad = tmp_path / 'bad.txt'
    bad.write_text('n01440764\nfish\n')
    with pytest.raises(SystemExit, match=r"bad.txt, line 2: 'fish' is not a wnid"):
        imagenet_subset.main([root, str(tmp_path / 'o2'), '--classes', str(bad)])
    bad.write_text('n01440764\nn01440764\n')
    with pytest.raises(SystemExit, match='listed more than once: n01440764'):
        imagenet_subset.main([root, str(tmp_path / 'o2'), '--classes', str(bad)])


def test_overwrite_replaces_links_not_images(tmp_path):
    root = fake_imagenet(tmp_path / 'imagenet')
    out = str(tmp_path / 'in100')
    imagenet_subset.main([root, out, '--counts', 'any'])
    imagenet_subset.main([root, out, '--counts', 'any', '--overwrite'])
    assert len(read_lines(osp.join(out, 'meta', 'train.txt'))) == 300
    assert len(os.listdir(osp.join(root, 'train', LISTED[0]))) == 4  # source untouched
