"""The redundancy report (:func:`~mmdiverse.analysis.redundancy_report`) of a
training run's last checkpoint, measured on its own test set."""

import glob
import os.path as osp
import re
from typing import Optional

from .run_scalars import RunScalars


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint ``work_dir/last_checkpoint`` names, else the
    ``epoch_N.pth`` / ``iter_N.pth`` with the largest ``N``.

    Raises:
        FileNotFoundError: no checkpoint (the message names ``work_dir``).
    """
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip()
        if osp.isfile(named):
            return named
    numbered = []
    for path in glob.glob(osp.join(work_dir, '*.pth')):
        match = re.fullmatch(r'(?:epoch|iter)_(\d+)\.pth', osp.basename(path))
        if match:
            numbered.append((int(match.group(1)), path))
    if not numbered:
        raise FileNotFoundError(
            f'{work_dir}: no checkpoint (no last_checkpoint, no '
            'epoch_N.pth / iter_N.pth) for --redundancy'
        )
    return max(numbered)[1]


def run_redundancy(
    run: RunScalars, num_images: int = 64, batch_size: int = 8, checkpoint: Optional[str] = None
) -> dict:
    """Measure the backbone of ``run``'s last checkpoint.

    The model is built from the run's resolved config (classifier or
    segmentor), its backbone loaded strictly from the checkpoint, and the
    first ``num_images`` of the config's test set go through it.

    Returns:
        dict: the redundancy report, plus ``checkpoint``.
    """
    import torch
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DATASETS

    from mmdiverse.apis import build_model
    from mmdiverse.checkpoint import load_pretrained_backbone
    from .report import redundancy_report

    checkpoint = checkpoint or last_checkpoint(run.work_dir)
    cfg = Config.fromfile(run.config_file)
    model = build_model(cfg)  # also sets the config's default scope
    load_pretrained_backbone(model.backbone, checkpoint, logger=None)
    model.eval()
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    samples = [dataset[i] for i in range(min(num_images, len(dataset)))]
    batches = [
        pseudo_collate(samples[i : i + batch_size]) for i in range(0, len(samples), batch_size)
    ]
    with torch.no_grad():
        report = redundancy_report(model, batches)
    return dict(checkpoint=checkpoint, **report)
