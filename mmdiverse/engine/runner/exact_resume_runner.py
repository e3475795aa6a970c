"""mmengine's Runner with per-sample seeded data and hook arguments checked at build."""

import inspect

from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from ...datasets.per_sample_seed import seed_each_sample
from ..hook_arguments import check_hook_arguments


@RUNNERS.register_module()
class ExactResumeRunner(Runner):
    """A Runner whose ``--resume`` reaches the uninterrupted run's weights with any
    data loader setting, and which refuses unknown hook arguments before building.

    Two additions to :class:`mmengine.runner.Runner`, nothing else changed:

    - Before anything is built, every hook config of ``default_hooks`` and
      ``custom_hooks`` is checked against the hook's signature and, for
      ``CheckpointHook``, against :meth:`save_checkpoint`, which receives its
      extra keyword arguments (:func:`~mmdiverse.engine.hook_arguments.check_hook_arguments`).
      ``default_hooks.checkpoint.intervall=2`` fails here, naming that key,
      not after the first epoch.
    - Every dataloader's sampler and data set are wrapped so that each
      sample's random transforms are seeded from (seed, rank, epoch, position,
      index) (:mod:`mmdiverse.datasets.per_sample_seed`): the augmentation no
      longer depends on which worker loads a sample, or on what that worker
      loaded before, so a resumed run draws what the uninterrupted one drew
      with 0 or N workers, persistent or not, in epoch- and iteration-based
      loops. The model-side streams (dropout, drop path, batch augments) stay
      in the checkpoint through ``RandomStateHook``.

    A config opts in with ``runner_type = 'ExactResumeRunner'``; mmpretrain's
    and mmseg's own ``tools/train.py`` build it through ``RUNNERS`` then, as
    ``tools/train.py`` here does. (A hook checking the config in
    ``before_run`` would come too late: a misspelled argument of a hook
    without ``**kwargs`` already fails while the Runner builds its hooks,
    naming no key.)
    """

    def __init__(self, *args, **kwargs):
        bound = inspect.signature(Runner.__init__).bind(self, *args, **kwargs).arguments
        check_hook_arguments(
            bound.get('default_hooks'),
            bound.get('custom_hooks'),
            type(self),
            bound.get('default_scope', 'mmengine'),
        )
        super().__init__(*args, **kwargs)

    @staticmethod
    def build_dataloader(dataloader, seed=None, diff_rank_seed=False, **kwargs):
        """:meth:`Runner.build_dataloader` of the config with every sample seeded."""
        if isinstance(dataloader, dict):
            dataloader = seed_each_sample(dataloader, seed)
        return Runner.build_dataloader(
            dataloader, seed=seed, diff_rank_seed=diff_rank_seed, **kwargs
        )
