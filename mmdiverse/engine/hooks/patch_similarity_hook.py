"""Log the mean patch cosine similarity of every block on validation."""

import contextlib
from typing import Dict, Optional

import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmpretrain.utils import get_ori_model

from ...models.losses import patch_cosine_similarity
from ...models.taps import build_tap


@HOOKS.register_module()
class PatchSimilarityHook(Hook):
    """Mean pairwise patch cosine similarity per block, on validation.

    During the validation forward passes (no extra forward) a tap records
    each block's output tokens and reduces them at once to the per-image
    mean pairwise cosine similarity (absolute off-diagonal by default, as
    ``PatchCosineLoss``), so no block's tokens are kept. After the epoch the
    batch-averaged values go to the message hub as
    ``val/<prefix>/block_XX`` (plus ``val/<prefix>/last``, the final tokens
    after the backbone's final norm), where mmengine's ``LoggerHook`` writes
    them to the log and to every visualizer backend (TensorBoard, W&B, the
    JSON scalars file).

    The tap is the model's own (``DiverseImageClassifier.tap``, or any model
    with a ``tap`` attribute) or one built for ``model.backbone``, so it
    works for mmpretrain classifiers and mmseg segmentors alike; it is
    registered in mmengine's root ``HOOKS``, so both toolboxes' configs find it
    by name.

    Args:
        interval (int): Run every ``interval`` validation epochs.
            Defaults to 1.
        max_batches (int, optional): Only the first ``max_batches``
            validation batches. Defaults to None (all).
        absolute (bool): Absolute (True) or signed mean similarity.
            Defaults to True.
        prefix (str): Scalar name prefix. Defaults to ``'patch_cos_sim'``.
        tap (dict, optional): Tap config used when the model has no tap.
    """

    priority = 'NORMAL'

    def __init__(
        self,
        interval: int = 1,
        max_batches: Optional[int] = None,
        absolute: bool = True,
        prefix: str = 'patch_cos_sim',
        tap: Optional[dict] = None,
    ):
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        self.interval = interval
        self.max_batches = max_batches
        self.absolute = absolute
        self.prefix = prefix
        self.tap_cfg = tap
        self._tap = None
        self._val_epochs = 0
        self._active = False
        self._stack: Optional[contextlib.ExitStack] = None
        self._sums: Dict[str, torch.Tensor] = {}
        self._counts: Dict[str, int] = {}

    def _get_tap(self, runner):
        if self._tap is None:
            model = get_ori_model(runner.model)
            tap = getattr(model, 'tap', None)
            if tap is None:
                if not hasattr(model, 'backbone'):
                    raise ValueError(
                        f'{type(self).__name__}: model {type(model).__name__} has no backbone'
                    )
                tap = build_tap(model.backbone, self.tap_cfg)
            self._tap = tap
        return self._tap

    def _add(self, key: str, tokens: torch.Tensor) -> None:
        per_image = patch_cosine_similarity(
            tokens.detach(), absolute=self.absolute, reduction='none'
        )
        total = per_image.sum().double().cpu()
        self._sums[key] = self._sums.get(key, 0.0) + total
        self._counts[key] = self._counts.get(key, 0) + per_image.numel()

    # ------------------------------------------------------------- hooks
    def before_val_epoch(self, runner) -> None:
        self._val_epochs += 1
        self._active = (self._val_epochs - 1) % self.interval == 0
        self._sums, self._counts = {}, {}

    def before_val_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if not self._active or (self.max_batches is not None and batch_idx >= self.max_batches):
            return
        tap = self._get_tap(runner)

        def on_block(index, tokens, _hw):
            self._add(f'block_{index:02d}', tokens)

        self._stack = contextlib.ExitStack()
        record = self._stack.enter_context(tap.capture(first=False, attn=False, per_layer=on_block))
        self._record = record

    def after_val_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._stack is None:
            return
        self._stack.close()
        self._stack = None
        if self._record.last is not None:
            self._add('last', self._record.last)
        self._record = None

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self._stack is not None:  # an iteration failed midway
            self._stack.close()
            self._stack = None
        if not self._active or not self._counts:
            return
        values = {k: float(self._sums[k] / self._counts[k]) for k in sorted(self._counts)}
        for key, value in values.items():
            runner.message_hub.update_scalar(f'val/{self.prefix}/{key}', value)
        self._sums, self._counts = {}, {}
