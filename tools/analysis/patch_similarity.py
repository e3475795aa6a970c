"""Per-layer redundancy of one or more checkpoints: patch similarity, attention-head
similarity and q/k/v condition numbers (Gong et al. 2021; Chen et al. 2022).

Examples::

    python tools/analysis/patch_similarity.py configs/pretrain/deit_s12_diverse.py \\
        work_dirs/deit_s12_baseline/epoch_300.pth work_dirs/deit_s12_diverse/epoch_300.pth \\
        --labels baseline diverse --num-images 256 --out-dir work_dirs/analysis
    python tools/analysis/patch_similarity.py CONFIG CKPT --image-dir my_images/

Writes ``<out-dir>/redundancy.json`` and ``<out-dir>/redundancy.png``.
"""

import argparse
import json
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

import mmdiverse  # noqa: F401  (registers modules and the safe checkpoint loader)
from mmdiverse.analysis import plot_redundancy, redundancy_report
from mmdiverse.apis import build_model, toolbox_of
from mmdiverse.checkpoint import atomic_write, load_pretrained_backbone

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='mmpretrain / mmdiverse classification config')
    parser.add_argument('checkpoints', nargs='+', help='checkpoints to compare')
    parser.add_argument('--labels', nargs='+', help='one label per checkpoint')
    parser.add_argument('--image-dir', help="folder of images (default: the config's test set)")
    parser.add_argument('--num-images', type=int, default=64)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--out-dir', default='work_dirs/analysis')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def image_batches(cfg, image_dir, num_images, batch_size):
    """Batches from a folder of images (through the config's test pipeline)
    or from the config's test set."""
    if image_dir:
        if not osp.isdir(image_dir):
            raise FileNotFoundError(f'--image-dir {image_dir} is not a directory')
        files = sorted(f for f in os.listdir(image_dir) if f.lower().endswith(IMAGE_SUFFIXES))
        if not files:
            raise FileNotFoundError(f'--image-dir {image_dir} holds no images {IMAGE_SUFFIXES}')
        pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
        samples = [pipeline(dict(img_path=osp.join(image_dir, f))) for f in files[:num_images]]
    else:
        from mmpretrain.registry import DATASETS

        dataset = DATASETS.build(cfg.test_dataloader.dataset)
        samples = [dataset[i] for i in range(min(num_images, len(dataset)))]
    return [pseudo_collate(samples[i : i + batch_size]) for i in range(0, len(samples), batch_size)]


def with_progress(batches, progress):
    for batch in batches:
        yield batch
        progress.update()


def main():
    args = parse_args()
    labels = args.labels or [osp.splitext(osp.basename(c))[0] for c in args.checkpoints]
    if len(labels) != len(args.checkpoints):
        raise ValueError(
            f'--labels gives {len(labels)} names for {len(args.checkpoints)} checkpoints'
        )
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(toolbox_of(cfg))
    batches = image_batches(cfg, args.image_dir, args.num_images, args.batch_size)
    reports = {}
    progress = ProgressBar(len(batches) * len(labels))
    for label, checkpoint in zip(labels, args.checkpoints):
        model = build_model(cfg)
        # Only the backbone is measured: strict on its tensors, whatever else
        # the checkpoint holds (heads, regularizer state).
        load_pretrained_backbone(model.backbone, checkpoint, logger=None)
        model.eval()
        reports[label] = dict(
            checkpoint=checkpoint, **redundancy_report(model, with_progress(batches, progress))
        )
    print()
    os.makedirs(args.out_dir, exist_ok=True)
    json_file = osp.join(args.out_dir, 'redundancy.json')
    atomic_write(json.dumps(reports, indent=2), json_file)
    png_file = plot_redundancy(reports, osp.join(args.out_dir, 'redundancy.png'))
    for label, report in reports.items():
        values = ' '.join(f'{v:.3f}' for v in report['patch_similarity'].values())
        print(f'{label}: patch similarity per block: {values}')
    print(f'wrote {json_file} and {png_file}')


if __name__ == '__main__':
    main()
