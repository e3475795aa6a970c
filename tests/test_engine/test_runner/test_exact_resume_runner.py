"""ExactResumeRunner in process, on a toy model: hook arguments refused before
anything is built, and a run interrupted during validation or after a new best,
with 2 persistent workers and save_best, resumed to the uninterrupted run."""

import os
import os.path as osp
import random

import numpy as np
import pytest
import torch
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from torch.utils.data import Dataset

from mmdiverse.checkpoint.safe_loading import safe_globals
from mmdiverse.engine.hook_arguments import UnknownHookArgumentError
from mmdiverse.engine.runner import ExactResumeRunner


class _Augmented(Dataset):
    """16 samples whose 'augmentation' draws from the Python and NumPy streams."""

    def __len__(self):
        return 16

    def __getitem__(self, index):
        noise = random.gauss(0, 1) + np.random.randn()
        return dict(
            inputs=torch.tensor([index / 16, noise], dtype=torch.float32),
            data_samples=torch.tensor([index % 3], dtype=torch.float32),
        )


class _Model(BaseModel):
    """A linear model with dropout (a model-side stream in the checkpoint)."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)
        self.dropout = torch.nn.Dropout(0.5)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.dropout(self.linear(torch.stack(inputs)))
        if mode == 'loss':
            return dict(loss=((out - torch.stack(data_samples)) ** 2).mean())
        return [dict(out=value) for value in out]


class _Mean(BaseMetric):
    def process(self, data_batch, data_samples):
        self.results += [float(sample['out']) for sample in data_samples]

    def compute_metrics(self, results):
        return dict(score=float(np.mean(results)) + 10 * float(torch.rand(1)))  # draws


class _Interrupt(Exception):
    pass


class _InterruptAt(Hook):
    """Stop the run at validation of epoch ``val_epoch`` or at training iteration ``iter``."""

    def __init__(self, val_epoch=None, iter=None):
        self.val_epoch, self.iter = val_epoch, iter

    def before_val_iter(self, runner, batch_idx, data_batch=None):
        if runner.epoch == self.val_epoch:
            raise _Interrupt

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.iter:
            raise _Interrupt


class _ValRows(Hook):
    priority = 'LOWEST'

    def __init__(self, rows):
        self.rows = rows

    def after_val_epoch(self, runner, metrics=None):
        self.rows.append((runner.epoch, round(metrics['score'], 6)))


def _runner(work_dir, rows, *extra_hooks, resume=False, save_best='score'):
    loader = dict(
        dataset=_Augmented(),
        sampler=dict(type='DefaultSampler', shuffle=True),
        batch_size=4,
        num_workers=2,
        persistent_workers=True,
    )
    torch.manual_seed(0)  # the model is built before the Runner seeds
    return ExactResumeRunner(
        model=_Model(),
        work_dir=work_dir,
        train_dataloader=loader,
        val_dataloader=dict(loader, num_workers=0, persistent_workers=False),
        train_cfg=dict(by_epoch=True, max_epochs=3),
        val_cfg=dict(),
        val_evaluator=[_Mean()],
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        resume=resume,
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1, save_best=save_best, rule='greater')
        ),
        custom_hooks=[
            dict(type='RandomStateHook'),
            dict(type='ValidationResumeHook'),
            _ValRows(rows),
            *extra_hooks,
        ],
        randomness=dict(seed=0),
        experiment_name=f'{osp.basename(work_dir)}-{resume}-{len(rows)}',
        default_scope='mmengine',
    )


def _final(work_dir):
    return torch.load(osp.join(work_dir, 'epoch_3.pth'), weights_only=False)['state_dict']


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    work_dir, rows = str(tmp_path_factory.mktemp('uninterrupted')), []
    _runner(work_dir, rows).train()
    return work_dir, rows


@pytest.mark.parametrize(
    'interrupt',
    [
        dict(val_epoch=1),  # during the first validation
        dict(iter=5),  # in epoch 2, after the first (new best) validation
        # during a validation after a resumed one: about 30 s of worker start-ups
        pytest.param(dict(val_epoch=2), marks=pytest.mark.slow),
    ],
    ids=['during_validation', 'after_a_new_best', 'validation_of_epoch_2'],
)
def test_an_interrupted_run_resumes_to_the_uninterrupted_one(tmp_path, uninterrupted, interrupt):
    reference_dir, reference_rows = uninterrupted
    work_dir, rows = str(tmp_path), []
    with pytest.raises(_Interrupt):
        _runner(work_dir, rows, _InterruptAt(**interrupt)).train()
    with torch.serialization.safe_globals(safe_globals()):  # what mmdiverse.runtime allows
        _runner(work_dir, rows, resume=True).train()
    assert rows == reference_rows and len(rows) == 3
    best = sorted(name for name in os.listdir(work_dir) if name.startswith('best_'))
    assert best == sorted(name for name in os.listdir(reference_dir) if name.startswith('best_'))
    assert not osp.exists(osp.join(work_dir, 'validation_in_progress.json'))
    for key, value in _final(reference_dir).items():
        torch.testing.assert_close(_final(work_dir)[key], value, rtol=0, atol=0, msg=key)


def test_a_misspelled_hook_argument_fails_before_anything_is_built(tmp_path):
    with pytest.raises(UnknownHookArgumentError, match=r'default_hooks\.checkpoint\.intervall'):
        ExactResumeRunner(
            model=_Model(),
            work_dir=str(tmp_path / 'run'),
            default_hooks=dict(checkpoint=dict(type='CheckpointHook', intervall=2)),
        )
    assert not osp.exists(tmp_path / 'run')


def test_its_dataloaders_seed_each_sample(tmp_path):
    runner = _runner(str(tmp_path), [])
    loader = runner.build_dataloader(
        dict(
            dataset=_Augmented(), batch_size=2, sampler=dict(type='DefaultSampler', shuffle=False)
        ),
        seed=0,
    )
    assert type(loader.sampler).__name__ == 'PerSampleSeedSampler'
    assert [sample[1] for sample in next(iter(loader))['inputs']] == [
        sample[1] for sample in next(iter(loader))['inputs']
    ]
