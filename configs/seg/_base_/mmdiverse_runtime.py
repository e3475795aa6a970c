# This project's runtime opt-in for configs/seg (docs/reliability.md, docs/fidelity.md).
# mmdiverse registers the modules; mmdiverse.runtime adds the safe checkpoint loaders, atomic
# writes with a digest beside each checkpoint, and the version-bound compat fixes.
custom_imports = dict(
    imports=['mmdiverse', 'mmdiverse.runtime', 'mmpretrain.models'], allow_failed_imports=False
)
# A NaN/Inf loss term or gradient stops the run before the optimizer step; the random streams
# go into every checkpoint. The schedules set default_hooks.checkpoint.type='SafeCheckpointHook'.
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='RandomStateHook'),
    dict(type='ValidationResumeHook'),
]
# Exact --resume with any num_workers / persistent_workers (each sample seeded from its place in
# the sampler's stream), a validation cut by a kill runs again, unknown hook arguments refused.
runner_type = 'ExactResumeRunner'
