"""Seed each sample's random transforms from where the sampler put it, not from the worker.

With ``num_workers > 0`` mmengine seeds every data loader worker once, when it
starts, from ``randomness.seed`` and the worker id; the random transforms
(``RandomResizedCrop``, ``RandomFlip``, ``RandAugment``, ``RandomResize``...) of a
sample then draw what that worker's history left in its streams. A resumed
run starts fresh workers where the uninterrupted run's persistent workers went
on, so it draws other numbers. Here the sampler tags every index with the key
``(seed, rank, epoch, position in the epoch's stream, index)`` and the data set
seeds Python's, NumPy's and torch's CPU generators from that key before the
sample's pipeline (and, in the main process, puts them back after it). A
sample's augmentation is then the same whichever worker loads it, with 0 or N
workers, persistent or not, and after any resume: an epoch-based resume starts
the epoch's stream again, an iteration-based resume replays it up to the
resumed iteration (``IterBasedTrainLoop`` loads the trained batches again).

``ExactResumeRunner`` wraps every dataloader's sampler and data set with
:func:`seed_each_sample`; nothing else is needed in a config.
"""

import hashlib
import random
import struct
from contextlib import contextmanager
from typing import Iterator, Optional, Tuple

import numpy as np
import torch
from mmengine.dist import get_rank, sync_random_seed
from mmengine.registry import DATA_SAMPLERS, DATASETS
from torch.utils.data import Sampler, get_worker_info


class SeededIndex(int):
    """A data set index carrying the key its sample's random draws are seeded from.

    Args:
        index (int): The index into the data set.
        key (tuple[int, ...]): Non-negative integers, see :func:`seeded_streams`.
    """

    def __new__(cls, index: int, key: Tuple[int, ...]):
        obj = super().__new__(cls, index)
        obj.key = key
        return obj

    def __reduce__(self):  # data loader workers receive indices pickled
        return SeededIndex, (int(self), self.key)


@contextmanager
def seeded_streams(key: Tuple[int, ...]):
    """Seed Python's, NumPy's and torch's CPU generators from ``key``.

    In the main process (``num_workers=0``) the generators are put back
    afterwards, so the model-side streams do not depend on the samples
    loaded; a loader worker's generators serve only its samples, each of
    which seeds them again, so nothing is put back there (saving NumPy's
    legacy state costs more than the seeding). Only torch's CPU generator is
    touched (``torch.manual_seed`` would also re-seed the CUDA generators,
    which dropout on the GPU draws from).

    Args:
        key (tuple[int, ...]): Integers in ``[0, 2**64)``, e.g. ``(seed, rank,
            epoch, position, index)``; keys differing anywhere give unrelated
            streams (the words come from a BLAKE2b digest of the key).
    """
    if get_worker_info() is not None:
        _seed(key)
        yield
        return
    saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
    _seed(key)
    try:
        yield
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        torch.set_rng_state(saved[2])


def _seed(key: Tuple[int, ...]) -> None:
    digest = hashlib.blake2b(struct.pack(f'<{len(key)}Q', *key), digest_size=32).digest()
    words = np.frombuffer(digest, dtype=np.uint32)
    random.seed(int(words[0]) << 32 | int(words[1]))
    np.random.seed(words[2:6])
    torch.default_generator.manual_seed(int(words[6]) << 32 | int(words[7]))


@DATA_SAMPLERS.register_module()
class PerSampleSeedSampler(Sampler):
    """Yield the indices of ``sampler`` as :class:`SeededIndex` keyed by their place.

    The key of the ``position``-th index of an epoch is ``(seed, rank, epoch,
    position, index)``. ``set_epoch`` (``DistSamplerSeedHook``) is passed on;
    an infinite sampler (iteration-based loops) stays at epoch 0 and its
    position counts on over the whole run.

    Args:
        dataset: The data set (passed on to ``sampler`` when it is a config).
        sampler (dict | Sampler): The sampler to wrap, e.g.
            ``dict(type='DefaultSampler', shuffle=True)``.
        seed (int, optional): The sampler seed mmengine passes (``None`` with
            ``randomness.diff_rank_seed=True``); forwarded to ``sampler``.
        sample_seed (int, optional): The seed of the samples' draws (the run's
            seed). Defaults to ``seed``, else a seed shared by the ranks.
    """

    def __init__(
        self, dataset, sampler, seed: Optional[int] = None, sample_seed: Optional[int] = None
    ):
        if isinstance(sampler, dict):
            sampler = DATA_SAMPLERS.build(sampler, default_args=dict(dataset=dataset, seed=seed))
        self.sampler = sampler
        if sample_seed is None:
            sample_seed = seed if seed is not None else sync_random_seed()
        self.sample_seed = sample_seed
        self.rank = get_rank()
        self.epoch = 0

    def __iter__(self) -> Iterator[SeededIndex]:
        epoch = self.epoch
        for position, index in enumerate(self.sampler):
            key = (self.sample_seed % 2**63, self.rank, epoch, position, int(index))
            yield SeededIndex(index, key)

    def __len__(self) -> int:
        return len(self.sampler)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.sampler, 'set_epoch'):
            self.sampler.set_epoch(epoch)


@DATASETS.register_module()
class PerSampleSeedDataset:
    """Load each :class:`SeededIndex` of ``dataset`` inside :func:`seeded_streams`.

    Everything else (``metainfo``, ``pipeline``, ``get_data_info``...) is
    ``dataset``'s; a plain ``int`` index loads as without the wrapper.

    Args:
        dataset (dict | Dataset): The data set, or its config.
    """

    def __init__(self, dataset):
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset

    def full_init(self) -> None:
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()

    def __getitem__(self, index):
        if not isinstance(index, SeededIndex):
            return self.dataset[index]
        with seeded_streams(index.key):
            return self.dataset[int(index)]

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str):
        if name == 'dataset':  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)


def seed_each_sample(dataloader: dict, seed: Optional[int]) -> dict:
    """A dataloader config whose sampler and data set seed every sample (see above).

    Configs whose ``sampler`` is already an object, or that are already
    wrapped, come back unchanged.

    Args:
        dataloader (dict): A dataloader config (``dataset``, ``sampler``...).
        seed (int, optional): The run's seed.

    Returns:
        dict: A shallow copy with ``sampler`` and ``dataset`` wrapped, and a
        ``generator`` of its own (see :func:`_own_generator`).
    """
    sampler, dataset = dataloader.get('sampler'), dataloader.get('dataset')
    if (
        not isinstance(sampler, dict)
        or dataset is None
        or sampler.get('type') in ('PerSampleSeedSampler', PerSampleSeedSampler)
    ):
        return dataloader
    return dict(
        dataloader,
        sampler=dict(type=PerSampleSeedSampler, sampler=sampler, sample_seed=seed),
        dataset=dict(type=PerSampleSeedDataset, dataset=dataset),
        generator=dataloader.get('generator') or _own_generator(seed),
    )


def _own_generator(seed: Optional[int]) -> torch.Generator:
    """A generator for the DataLoader's per-iterator base seed.

    Without one, every ``iter(dataloader)`` draws that seed from torch's global
    stream, except on the later epochs of persistent workers, which reuse their
    iterator; a resumed epoch would then draw once more than the uninterrupted
    run, and the dropout and batch augments after it would differ.
    """
    generator = torch.Generator()
    if seed is not None:
        generator.manual_seed(seed % 2**63)
    return generator
