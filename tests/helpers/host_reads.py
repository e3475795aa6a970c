"""Counting the Python-level ways of reading a tensor value on the host.

Each is a device synchronisation on a GPU (issue 15: none on the training path
of the regularizers, taps, PatchCutMix and the patch-target routing).
``tests/test_models/test_host_syncs.py`` keeps its own, richer counter (callers
and boolean-mask indexing) for a whole training step.
"""

import collections
import contextlib

import torch

HOST_READS = (
    'item',
    'tolist',
    'cpu',
    'numpy',
    'nonzero',
    '__bool__',
    '__int__',
    '__float__',
    '__index__',
)


@contextlib.contextmanager
def counting_host_reads():
    """Yields a ``Counter`` of the :data:`HOST_READS` calls made inside the context."""
    counts = collections.Counter()
    originals = {name: getattr(torch.Tensor, name) for name in HOST_READS}
    had = {name: name in vars(torch.Tensor) for name in HOST_READS}

    def counting(name):
        def read(self, *args, **kwargs):
            counts[name] += 1
            return originals[name](self, *args, **kwargs)

        return read

    try:
        for name in HOST_READS:
            setattr(torch.Tensor, name, counting(name))
        yield counts
    finally:
        for name in HOST_READS:
            if had[name]:
                setattr(torch.Tensor, name, originals[name])
            else:
                delattr(torch.Tensor, name)
