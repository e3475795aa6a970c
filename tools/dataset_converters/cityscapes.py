"""Make Cityscapes ``*_gtFine_labelTrainIds.png`` for mmseg's ``CityscapesDataset``.

Cityscapes ships its fine annotations as polygons (``*_gtFine_polygons.json``)
and as label-id images whose values are the 34 Cityscapes *ids*; training
uses the 19 evaluation classes, the *train ids* (255 = ignored). This script
rasterizes every polygon file with ``cityscapesscripts`` (``json2labelImg``
with the ``trainIds`` encoding), exactly as mmseg's converter does, writing
``<name>_gtFine_labelTrainIds.png`` next to each ``<name>_gtFine_polygons.json``,
and writes ``train.txt`` / ``val.txt`` / ``test.txt`` listing ``<city>/<name>``
per split.

Expected layout (``data/cityscapes`` in the configs)::

    data/cityscapes/
      leftImg8bit/{train,val,test}/<city>/<name>_leftImg8bit.png
      gtFine/{train,val,test}/<city>/<name>_gtFine_polygons.json

Usage::

    pip install cityscapesscripts     # part of requirements; installed by make setup
    python tools/dataset_converters/cityscapes.py data/cityscapes --nproc 8
"""

import argparse
import os
import os.path as osp
import sys
from typing import Dict, List, Optional

SPLITS = ('train', 'val', 'test')
POLYGON_SUFFIX = '_gtFine_polygons.json'
TRAIN_ID_SUFFIX = '_gtFine_labelTrainIds.png'


def _json2labelimg():
    try:
        from cityscapesscripts.preparation.json2labelImg import json2labelImg
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise SystemExit(f'cityscapesscripts is needed: pip install cityscapesscripts ({error})')
    return json2labelImg


def convert_json_to_label(json_file: str) -> str:
    """Rasterize one ``*_gtFine_polygons.json`` into ``*_gtFine_labelTrainIds.png``."""
    label_file = json_file[: -len('_polygons.json')] + '_labelTrainIds.png'
    _json2labelimg()(json_file, label_file, 'trainIds')
    return label_file


def find_polygon_files(gt_root: str) -> List[str]:
    """Every ``*_gtFine_polygons.json`` below ``gt_root``, sorted."""
    found = []
    for directory, _, files in os.walk(gt_root):
        found += [osp.join(directory, f) for f in files if f.endswith(POLYGON_SUFFIX)]
    return sorted(found)


def convert(
    cityscapes_path: str, gt_dir: str = 'gtFine', out_dir: Optional[str] = None, nproc: int = 1
) -> Dict[str, int]:
    """Convert every polygon file and write the split lists.

    Args:
        cityscapes_path: the Cityscapes root (holding ``gtFine/``).
        gt_dir: annotation folder under the root.
        out_dir: where ``{train,val,test}.txt`` go (default: the root). The
            label images are always written next to their polygon files,
            where ``CityscapesDataset`` looks for them.
        nproc: worker processes.

    Returns:
        dict: number of annotated images per split.
    """
    from mmengine.utils import mkdir_or_exist, track_parallel_progress, track_progress

    gt_root = osp.join(cityscapes_path, gt_dir)
    if not osp.isdir(gt_root):
        raise SystemExit(
            f'{gt_root} does not exist: expected the Cityscapes layout '
            f'{cityscapes_path}/{gt_dir}/<split>/<city>/*{POLYGON_SUFFIX}'
        )
    poly_files = find_polygon_files(gt_root)
    if not poly_files:
        raise SystemExit(f'no *{POLYGON_SUFFIX} files under {gt_root}')
    _json2labelimg()  # fail before starting workers
    if nproc > 1:
        track_parallel_progress(convert_json_to_label, poly_files, nproc)
    else:
        track_progress(convert_json_to_label, poly_files)

    out_dir = out_dir or cityscapes_path
    mkdir_or_exist(out_dir)
    counts = {}
    for split in SPLITS:
        split_root = osp.join(gt_root, split)
        names = [
            osp.relpath(f, split_root)[: -len(POLYGON_SUFFIX)]
            for f in poly_files
            if f.startswith(split_root + os.sep)
        ]
        with open(osp.join(out_dir, f'{split}.txt'), 'w') as f:
            f.writelines(name + '\n' for name in names)
        counts[split] = len(names)
    return counts


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Convert Cityscapes annotations to TrainIds')
    parser.add_argument('cityscapes_path', help='cityscapes data path')
    parser.add_argument('--gt-dir', default='gtFine', type=str)
    parser.add_argument(
        '-o', '--out-dir', help='output path for the split lists (default: cityscapes_path)'
    )
    parser.add_argument('--nproc', default=1, type=int, help='number of processes')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    counts = convert(args.cityscapes_path, args.gt_dir, args.out_dir, args.nproc)
    print(
        '\nwrote *'
        + TRAIN_ID_SUFFIX
        + ' for '
        + ', '.join(f'{n} {split}' for split, n in counts.items())
        + ' images'
    )


if __name__ == '__main__':
    sys.exit(main())
