# Settings every configs/pretrain/*.py adds to mmpretrain's runtime.
custom_imports = dict(imports=['mmdiverse'], allow_failed_imports=False)

# Hooks every run gets (mmdiverse.engine.hooks): a NaN/Inf loss term stops the
# run naming the term and iteration before the optimizer step; the random
# streams (Python, NumPy, torch) go into every checkpoint and come back on
# --resume, so a resumed run continues the uninterrupted one. A config sets
#   custom_hooks = _base_.mmdiverse_hooks      (plus the recipe's own, if any)
# (mmengine refuses the same key in two sibling bases, and some mmpretrain
# recipes define custom_hooks themselves.)
mmdiverse_hooks = [dict(type='NonFiniteLossHook'), dict(type='RandomStateHook')]

# Strict loaders swapped into the recipe's pipelines by type name; the other
# arguments (and OpenCV decoding) are kept. A truncated or unreadable image
# stops the run naming the file, where OpenCV would fill it with grey:
#   pipeline=strict_pipeline(PIPELINE, _base_.strict_loaders)
# with strict_pipeline from mmdiverse.datasets.strict_pipelines (one function
# for every config: the swap is written once).
strict_loaders = dict(LoadImageFromFile=dict(type='CheckedLoadImageFromFile'))
