"""Write transfer metadata into checkpoints and export the final backbone."""

import copy
import os.path as osp
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmpretrain.utils import get_ori_model

from ...checkpoint.export import META_KEY, describe_backbone, export_backbone, regularizers_from_cfg


@HOOKS.register_module()
class ExportMetaHook(Hook):
    """Record what a checkpoint is, and write a transfer file at the end.

    Every checkpoint saved during training gets ``meta['mmdiverse']``: the
    backbone class, ``arch`` and its settings, image size, patch size, Swin
    window size, token stride, and which diversity regularizers were on with
    their loss weights (``[]`` for a baseline). After training, the last
    checkpoint is exported (:func:`mmdiverse.checkpoint.export_backbone`) to
    ``work_dir/<out_filename>``: ``backbone.*`` and ``head.*`` weights (EMA
    weights when ``EMAHook`` is used) plus the metadata -- the file a
    segmentation config's ``init_cfg=dict(type='Pretrained', checkpoint=...,
    prefix='backbone.')`` loads. Registered in mmengine's root ``HOOKS``
    (found by name from mmpretrain and mmseg configs).

    Args:
        export_on_end (bool): Write the transfer file after training.
            Defaults to True.
        out_filename (str): Its name inside the work directory.
            Defaults to ``'backbone_export.pth'``.
        keep_head (bool): Keep ``head.*`` in the transfer file.
            Defaults to True.
    """

    priority = 'VERY_LOW'  # after CheckpointHook has written the last checkpoint

    def __init__(
        self,
        export_on_end: bool = True,
        out_filename: str = 'backbone_export.pth',
        keep_head: bool = True,
    ):
        self.export_on_end = export_on_end
        self.out_filename = out_filename
        self.keep_head = keep_head
        self._meta: Optional[dict] = None
        self.exported: Optional[str] = None

    def describe(self, runner) -> dict:
        """The metadata of the runner's model (computed once)."""
        if self._meta is None:
            model = get_ori_model(runner.model)
            model_cfg = runner.cfg.get('model', {}) or {}
            backbone = getattr(model, 'backbone', None)
            arch = (model_cfg.get('backbone') or {}).get('arch')
            info = describe_backbone(backbone, arch) if backbone is not None else {}
            terms, weights = regularizers_from_cfg(model_cfg)
            info.update(
                regularizers=terms,
                loss_weights=weights,
                config=osp.basename(runner.cfg.filename or ''),
                experiment=runner.experiment_name,
            )
            self._meta = info
        return self._meta

    def before_train(self, runner) -> None:
        self.describe(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.setdefault('meta', {})
        meta[META_KEY] = copy.deepcopy(self.describe(runner))

    def after_train(self, runner) -> None:
        if not self.export_on_end or not is_main_process():
            return
        last = runner.message_hub.get_info('last_ckpt')
        if not last or not osp.isfile(last):
            runner.logger.warning('ExportMetaHook: no checkpoint was saved; nothing to export')
            return
        out_path = osp.join(runner.work_dir, self.out_filename)
        export_backbone(last, out_path, keep_head=self.keep_head)
        self.exported = out_path
        runner.logger.info(
            f'Exported the backbone of {last} for transfer to {out_path} '
            "(load it with init_cfg=dict(type='Pretrained', "
            f"checkpoint='{out_path}', prefix='backbone.'))"
        )
