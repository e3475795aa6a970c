"""Building full-size models for tests of structure and shapes only."""

import contextlib

INIT_FILLS = (
    'uniform_',
    'normal_',
    'trunc_normal_',
    'kaiming_uniform_',
    'kaiming_normal_',
    'xavier_uniform_',
    'xavier_normal_',
    'constant_',
    'zeros_',
    'ones_',
)


@contextlib.contextmanager
def skip_random_init():
    """Allocate parameters without drawing their random initial values.

    Construction (every module, every full-size tensor) runs as usual; only
    the ``torch.nn.init`` fills, which take seconds for a 300M-parameter
    model on the CPU, are skipped.
    """
    import torch

    originals = {name: getattr(torch.nn.init, name) for name in INIT_FILLS}
    try:
        for name in INIT_FILLS:
            setattr(torch.nn.init, name, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for name, fn in originals.items():
            setattr(torch.nn.init, name, fn)
