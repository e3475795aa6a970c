"""Each sample's random draws depend on (seed, rank, epoch, position, index) only."""

import pickle
import random

import numpy as np
import pytest
import torch
from mmengine.dataset import DefaultSampler, InfiniteSampler
from torch.utils.data import DataLoader

from mmdiverse.datasets import PerSampleSeedDataset, PerSampleSeedSampler, seed_each_sample
from mmdiverse.datasets.per_sample_seed import SeededIndex


class _RandomTransforms:
    """8 samples, each 'augmented' by a draw from Python's, NumPy's and torch's streams."""

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return [int(index), random.random(), float(np.random.rand()), float(torch.rand(1))]


def _loader(num_workers, sampler, persistent=True):
    return DataLoader(
        PerSampleSeedDataset(_RandomTransforms()),
        batch_size=2,
        sampler=sampler,
        num_workers=num_workers,
        persistent_workers=persistent and num_workers > 0,
        collate_fn=list,
    )


def _epoch(loader, epoch):
    loader.sampler.set_epoch(epoch)
    return [sample for batch in loader for sample in batch]


def _sampler(shuffle=True):
    return PerSampleSeedSampler(
        _RandomTransforms(), dict(type=DefaultSampler, shuffle=shuffle), seed=0
    )


@pytest.mark.parametrize('num_workers,persistent', [(0, False), (2, False), (2, True)])
def test_a_resumed_epoch_draws_what_the_running_workers_drew(num_workers, persistent):
    """Epoch 1 after epoch 0 on the same (persistent or not) workers equals
    epoch 1 on fresh workers (a resume), and equals the draws of 0 workers."""
    running = _loader(num_workers, _sampler(), persistent)
    _epoch(running, 0)
    continued = _epoch(running, 1)
    resumed = _epoch(_loader(num_workers, _sampler(), persistent), 1)
    single_process = _epoch(_loader(0, _sampler()), 1)
    assert continued == resumed == single_process
    assert sorted(sample[0] for sample in continued) == list(range(8))


def test_without_the_wrappers_persistent_workers_continue_other_streams():
    """The control: the stock loader's epoch 1 depends on the workers' history."""

    def stock():
        return DataLoader(
            _RandomTransforms(),
            batch_size=2,
            num_workers=2,
            sampler=DefaultSampler(_RandomTransforms(), seed=0),
            persistent_workers=True,
            collate_fn=list,
            worker_init_fn=lambda worker: np.random.seed(worker),
        )

    running = stock()
    list(running)
    running.sampler.set_epoch(1)
    continued = [sample for batch in running for sample in batch]
    fresh = stock()
    fresh.sampler.set_epoch(1)
    assert continued != [sample for batch in fresh for sample in batch]


def test_epochs_positions_ranks_and_seeds_draw_differently():
    draws = _epoch(_loader(0, _sampler(shuffle=False)), 0)
    assert len({tuple(sample[1:]) for sample in draws}) == 8
    assert _epoch(_loader(0, _sampler(shuffle=False)), 1) != draws
    other_seed = PerSampleSeedSampler(
        _RandomTransforms(), dict(type=DefaultSampler, shuffle=False), seed=1
    )
    assert _epoch(_loader(0, other_seed), 0) != draws


def test_an_infinite_stream_replayed_to_a_resumed_iteration_draws_the_same():
    """IterBasedTrainLoop resumes by loading the trained batches again."""

    def batches(num_workers):
        sampler = PerSampleSeedSampler(_RandomTransforms(), dict(type=InfiniteSampler), seed=0)
        return iter(_loader(num_workers, sampler))

    uninterrupted = batches(2)
    expected = [next(uninterrupted) for _ in range(7)][3:]
    resumed = batches(0)
    for _ in range(3):
        next(resumed)
    assert [next(resumed) for _ in range(4)] == expected


def test_loading_in_the_main_process_leaves_its_streams_alone():
    """With num_workers=0 the model-side streams (dropout, batch augments) do
    not depend on the samples loaded."""
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    dataset = PerSampleSeedDataset(_RandomTransforms())
    [dataset[index] for index in _sampler()]
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected


def test_the_index_keeps_its_key_through_pickling_and_acts_as_an_int():
    index = pickle.loads(pickle.dumps(SeededIndex(5, (0, 0, 1, 3, 5))))
    assert index == 5 and index.key == (0, 0, 1, 3, 5) and [10, 11, 12, 13, 14, 15][index] == 15
    assert type(index + 1) is int


def test_seed_each_sample_wraps_a_dataloader_config_once():
    config = dict(
        batch_size=2,
        dataset=dict(type='CustomDataset', data_root='x'),
        sampler=dict(type='DefaultSampler', shuffle=True),
    )
    wrapped = seed_each_sample(config, seed=3)
    assert wrapped['sampler'] == dict(
        type=PerSampleSeedSampler, sampler=config['sampler'], sample_seed=3
    )
    assert wrapped['dataset']['dataset'] == config['dataset']
    assert isinstance(wrapped['generator'], torch.Generator)  # not the global stream
    assert seed_each_sample(wrapped, seed=3) is wrapped
    prebuilt = dict(config, sampler=DefaultSampler(_RandomTransforms()))
    assert seed_each_sample(prebuilt, seed=3) is prebuilt
    dataset_object = dict(config, dataset=_RandomTransforms())
    assert seed_each_sample(dataset_object, 3)['dataset']['dataset'] is dataset_object['dataset']


def test_the_wrapper_shows_the_data_sets_attributes():
    dataset = PerSampleSeedDataset(_RandomTransforms())
    assert len(dataset) == 8 and dataset[2][0] == 2
    with pytest.raises(AttributeError):
        dataset.metainfo
    restored = pickle.loads(pickle.dumps(dataset))  # spawned workers receive it pickled
    assert len(restored) == 8
