"""Make ImageNet-100 (or any class subset) from a full ImageNet folder.

The classes come from a list file, by default ``imagenet100_cmc.txt`` beside
this script: the 100 classes of Tian et al. 2019 (CMC), the list ImageNet-100
results are usually measured on (source and why in docs/in100.md). Before
writing anything, every listed class is checked in both splits and the image
counts against the list's expectations (``# expected-...`` header lines);
what is missing is named.

Input (the usual ImageNet layout; ``val/`` either in class folders or flat
with mmpretrain's ``meta/val.txt``, whose labels index the sorted wnids of
``train/``)::

    IMAGENET/train/<wnid>/*.JPEG
    IMAGENET/val/<wnid>/*.JPEG       or   IMAGENET/val/*.JPEG + IMAGENET/meta/val.txt

Output (no image is copied: class folders, or single images, are symlinks)::

    OUT/train/<wnid> -> IMAGENET/train/<wnid>
    OUT/val/<wnid>   (-> IMAGENET/val/<wnid>, or a folder of links to the images)
    OUT/meta/train.txt, val.txt     "<wnid>/<file> <label>", mmpretrain's ImageNet format
    OUT/meta/classes.txt            the wnids in label order (sorted, as torchvision's
                                    ImageFolder numbers them)

Usage::

    python tools/dataset_converters/imagenet_subset.py data/imagenet data/imagenet100
"""

import argparse
import os
import os.path as osp
import re
import shutil
from typing import Dict, List, NamedTuple, Optional

from mmengine.utils import track_iter_progress

DEFAULT_CLASSES = osp.join(osp.dirname(osp.abspath(__file__)), 'imagenet100_cmc.txt')
IMAGE_SUFFIXES = ('.jpeg', '.jpg', '.png')
#: Per-class training images in ILSVRC-2012 range from 732 to 1300.
ILSVRC_TRAIN_RANGE = (732, 1300)


class ClassList(NamedTuple):
    """A class list file: its wnids (in file order) and expected counts."""

    wnids: List[str]
    expected_train: Optional[int]
    expected_val_per_class: Optional[int]


def read_class_list(path: str) -> ClassList:
    """Read ``path``: one wnid per line; ``#`` lines are comments, of which
    ``# expected-train-images: N`` and ``# expected-val-images-per-class: N``
    state the counts."""
    if not osp.isfile(path):
        raise SystemExit(f'--classes {path}: no such file')
    wnids, expected = [], {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            header = re.fullmatch(r'#\s*expected-([a-z-]+):\s*(\d+)', line)
            if header:
                expected[header.group(1)] = int(header.group(2))
            elif line and not line.startswith('#'):
                if not re.fullmatch(r'n\d{8}', line):
                    raise SystemExit(
                        f'{path}, line {number}: {line!r} is not a wnid (n followed by 8 digits)'
                    )
                wnids.append(line)
    duplicates = sorted({w for w in wnids if wnids.count(w) > 1})
    if duplicates:
        raise SystemExit(f'{path}: listed more than once: {", ".join(duplicates)}')
    if not wnids:
        raise SystemExit(f'{path}: no wnid listed')
    return ClassList(wnids, expected.get('train-images'), expected.get('val-images-per-class'))


def list_images(folder: str) -> List[str]:
    """Image file names in ``folder``, sorted."""
    return sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_SUFFIXES))


def find_train(root: str, wnids: List[str]) -> Dict[str, List[str]]:
    """``{wnid: image names}`` of ``root/train``; refuses missing classes."""
    train_root = osp.join(root, 'train')
    if not osp.isdir(train_root):
        raise SystemExit(f'{train_root}: no such directory (expected IMAGENET/train/<wnid>/)')
    missing = [w for w in wnids if not osp.isdir(osp.join(train_root, w))]
    if missing:
        raise SystemExit(
            f'{len(missing)} of {len(wnids)} listed classes are missing from '
            f'{train_root}: {", ".join(missing)}'
        )
    print(f'counting training images of {len(wnids)} classes')
    return {w: list_images(osp.join(train_root, w)) for w in track_iter_progress(wnids)}


def find_val(root: str, wnids: List[str]) -> Dict[str, List[str]]:
    """``{wnid: paths relative to root/val}``, from class folders or from
    ``meta/val.txt``."""
    val_root = osp.join(root, 'val')
    if not osp.isdir(val_root):
        raise SystemExit(f'{val_root}: no such directory')
    if any(osp.isdir(osp.join(val_root, w)) for w in wnids):
        missing = [w for w in wnids if not osp.isdir(osp.join(val_root, w))]
        if missing:
            raise SystemExit(
                f'{len(missing)} of {len(wnids)} listed classes are missing '
                f'from {val_root}: {", ".join(missing)}'
            )
        print(f'counting validation images of {len(wnids)} classes')
        return {
            w: [f'{w}/{f}' for f in list_images(osp.join(val_root, w))]
            for w in track_iter_progress(wnids)
        }
    return val_from_meta(root, wnids)


def val_from_meta(root: str, wnids: List[str]) -> Dict[str, List[str]]:
    """A flat ``val/`` labelled by mmpretrain's ``meta/val.txt`` (``<file> <index>``,
    the index into the sorted wnids of ``train/``)."""
    meta = osp.join(root, 'meta', 'val.txt')
    if not osp.isfile(meta):
        raise SystemExit(
            f'{root}/val has no class folders of the listed classes and there '
            f'is no {meta} to label a flat val/'
        )
    all_wnids = sorted(
        d for d in os.listdir(osp.join(root, 'train')) if osp.isdir(osp.join(root, 'train', d))
    )
    found: Dict[str, List[str]] = {w: [] for w in wnids}
    with open(meta) as f:
        lines = f.read().splitlines()
    print(f'reading {meta}')
    for line in track_iter_progress(lines):
        name, label = line.split()
        wnid = all_wnids[int(label)] if int(label) < len(all_wnids) else None
        if wnid in found:
            found[wnid].append(name)
    return found


def check_counts(
    classes: ClassList, train: Dict[str, List[str]], val: Dict[str, List[str]], counts: str
) -> None:
    """Refuse missing images, naming the classes and the counts found."""
    problems = []
    empty = [w for w in classes.wnids if not train[w] or not val[w]]
    if empty:
        problems.append('no training or no validation image: ' + ', '.join(empty))
    if counts == 'ilsvrc2012':
        low, high = ILSVRC_TRAIN_RANGE
        odd = [f'{w} ({len(train[w])})' for w in classes.wnids if not low <= len(train[w]) <= high]
        if odd:
            problems.append(
                f"training images outside ILSVRC-2012's {low}-{high} per class: " + ', '.join(odd)
            )
        total = sum(len(train[w]) for w in classes.wnids)
        if classes.expected_train is not None and total != classes.expected_train:
            problems.append(
                f'{total} training images in all, the list expects {classes.expected_train}'
            )
        per_class = classes.expected_val_per_class
        if per_class is not None:
            odd = [f'{w} ({len(val[w])})' for w in classes.wnids if len(val[w]) != per_class]
            if odd:
                problems.append(
                    f'validation images other than {per_class} per class: ' + ', '.join(odd)
                )
    if problems:
        raise SystemExit(
            'the ImageNet folder does not hold the expected images (use '
            '--counts any to accept other counts):\n  ' + '\n  '.join(problems)
        )


def link(source: str, target: str) -> None:
    os.symlink(osp.abspath(source), target)


def write_subset(
    root: str, out: str, classes: ClassList, train: Dict[str, List[str]], val: Dict[str, List[str]]
) -> List[str]:
    """Write the links and the ``meta/`` lists; return the wnids in label order."""
    labels = sorted(classes.wnids)
    for split in ('train', 'val', 'meta'):
        os.makedirs(osp.join(out, split))
    print(f'linking {len(labels)} classes into {out}')
    for wnid in track_iter_progress(labels):
        link(osp.join(root, 'train', wnid), osp.join(out, 'train', wnid))
        if osp.isdir(osp.join(root, 'val', wnid)):
            link(osp.join(root, 'val', wnid), osp.join(out, 'val', wnid))
        else:
            os.makedirs(osp.join(out, 'val', wnid))
            for name in val[wnid]:
                link(osp.join(root, 'val', name), osp.join(out, 'val', wnid, name))
    train_lines = [f'{w}/{f} {i}' for i, w in enumerate(labels) for f in train[w]]
    val_lines = [f'{w}/{osp.basename(f)} {i}' for i, w in enumerate(labels) for f in val[w]]
    for name, lines in (
        ('train.txt', train_lines),
        ('val.txt', val_lines),
        ('classes.txt', labels),
    ):
        with open(osp.join(out, 'meta', name), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return labels


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('imagenet', help='the full ImageNet folder (train/, val/)')
    parser.add_argument(
        'out', help='where the subset goes (created; must not exist unless --overwrite)'
    )
    parser.add_argument(
        '--classes',
        default=DEFAULT_CLASSES,
        help='class list file (default: the CMC ImageNet-100 list)',
    )
    parser.add_argument(
        '--counts',
        choices=['ilsvrc2012', 'any'],
        default='ilsvrc2012',
        help='ilsvrc2012: the counts of the ILSVRC-2012 release and of the '
        "list's header; any: at least one image per class and split",
    )
    parser.add_argument('--overwrite', action='store_true', help='replace an existing OUT')
    return parser.parse_args(argv)


def main(argv=None) -> List[str]:
    args = parse_args(argv)
    classes = read_class_list(args.classes)
    if osp.lexists(args.out) and not args.overwrite:
        raise SystemExit(f'{args.out} exists: give --overwrite to replace it')
    train = find_train(args.imagenet, classes.wnids)
    val = find_val(args.imagenet, classes.wnids)
    check_counts(classes, train, val, args.counts)
    if osp.lexists(args.out):
        shutil.rmtree(args.out)
    labels = write_subset(args.imagenet, args.out, classes, train, val)
    print(
        f'{args.out}: {len(labels)} classes, '
        f'{sum(len(train[w]) for w in labels)} training and '
        f'{sum(len(val[w]) for w in labels)} validation images'
    )
    return labels


if __name__ == '__main__':
    main()
