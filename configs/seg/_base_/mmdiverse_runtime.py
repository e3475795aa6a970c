# Hooks every configs/seg/*.py run gets (mmdiverse.engine.hooks): a NaN/Inf
# loss term stops the run naming the term and iteration before the optimizer
# step; the random streams (Python, NumPy, torch) go into every checkpoint and
# come back on --resume, so a resumed run continues the uninterrupted one.
custom_hooks = [dict(type='NonFiniteLossHook'), dict(type='RandomStateHook')]
