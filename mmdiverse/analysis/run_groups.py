"""Group training runs that differ only in their random seed.

Two runs belong to one group when their resolved configs are equal once the
keys that name the run rather than the experiment are set aside:
``randomness.seed`` (the point of the grouping), ``work_dir`` and
``launcher``, plus any the caller adds (e.g. a transfer run's
``model.backbone.init_cfg.checkpoint``, which names each seed's own
pretrained backbone).
"""

import json
import os
import os.path as osp
from typing import Dict, Iterable, List, Mapping, NamedTuple, Sequence

from .run_scalars import RunScalars

#: Config keys that never separate two runs of one experiment.
RUN_KEYS = ('randomness.seed', 'work_dir', 'launcher')


class RunGroup(NamedTuple):
    """Runs of one experiment, one per seed.

    Attributes:
        name (str): the experiment's name (:func:`experiment_name`, made
            unique among the groups).
        runs (list[RunScalars]): its runs, in the order given.
        seeds (list): each run's ``randomness.seed`` (None if unset).
    """

    name: str
    runs: List[RunScalars]
    seeds: list


def flatten(config: Mapping, prefix: str = '') -> Dict[str, object]:
    """``{'a.b.c': value}`` of a nested config dict (lists kept as values)."""
    flat = {}
    for key, value in config.items():
        name = f'{prefix}{key}'
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + '.'))
        else:
            flat[name] = value
    return flat


def experiment_key(config: Mapping, ignore: Iterable[str]) -> str:
    """A canonical string of ``config`` without the ``ignore`` keys (a key
    also drops everything under it)."""
    ignore = tuple(ignore)
    kept = {
        k: v
        for k, v in flatten(config).items()
        if not any(k == i or k.startswith(i + '.') for i in ignore)
    }
    return json.dumps(kept, sort_keys=True, default=repr)


def experiment_name(run: RunScalars) -> str:
    """The config's ``experiment_name`` (mmengine's ``Runner`` key) if set,
    else the stem of the config file mmengine copied into the work directory
    (``<work_dir>/<config name>.py``), else the work directory's name."""
    if run.config.get('experiment_name'):
        return str(run.config['experiment_name'])
    stems = [
        osp.splitext(f)[0]
        for f in sorted(os.listdir(run.work_dir))
        if f.endswith('.py') and osp.isfile(osp.join(run.work_dir, f))
    ]
    return stems[0] if len(stems) == 1 else osp.basename(osp.normpath(run.work_dir))


def group_runs(runs: Sequence[RunScalars], ignore: Iterable[str] = ()) -> List[RunGroup]:
    """Group ``runs`` by their config without :data:`RUN_KEYS` and ``ignore``.

    Args:
        runs: the runs, e.g. from :func:`~mmdiverse.analysis.run_scalars.read_run`.
        ignore: further dotted config keys that differ between seeds.

    Returns:
        list[RunGroup]: in order of each group's first run. Names repeat a
        config stem at most once: a second group with the same stem is
        ``stem#2``, and so on.
    """
    keys = (*RUN_KEYS, *ignore)
    grouped: Dict[str, List[RunScalars]] = {}
    for run in runs:
        grouped.setdefault(experiment_key(run.config, keys), []).append(run)
    groups, used = [], {}
    for members in grouped.values():
        stem = experiment_name(members[0])
        used[stem] = used.get(stem, 0) + 1
        name = stem if used[stem] == 1 else f'{stem}#{used[stem]}'
        seeds = [run.config.get('randomness', {}).get('seed') for run in members]
        groups.append(RunGroup(name, members, seeds))
    return groups


def differing_keys(groups: Sequence[RunGroup], ignore: Iterable[str] = ()) -> List[str]:
    """Dotted config keys whose values differ between the groups (what the
    comparison compares), :data:`RUN_KEYS` and ``ignore`` left out."""
    keys = (*RUN_KEYS, *ignore)
    flats = [flatten(g.runs[0].config) for g in groups]
    names = sorted(set().union(*flats)) if flats else []
    return [
        k
        for k in names
        if not any(k == i or k.startswith(i + '.') for i in keys)
        and len({json.dumps(f.get(k), sort_keys=True, default=repr) for f in flats}) > 1
    ]


def same_name_differences(
    groups: Sequence[RunGroup], ignore: Iterable[str] = ()
) -> Dict[str, dict]:
    """Why a group got a ``#N`` name: ``{name: {'first': first group's name,
    'keys': config keys in which the two differ}}`` for every such group (runs
    of one experiment name whose configs were changed between the runs)."""
    firsts, out = {}, {}
    for group in groups:
        stem = group.name.split('#')[0]
        if stem not in firsts:
            firsts[stem] = group
        else:
            out[group.name] = dict(
                first=firsts[stem].name, keys=differing_keys([firsts[stem], group], ignore)
            )
    return out


def repeated_seeds(groups: Sequence[RunGroup]) -> Dict[str, Dict[object, List[str]]]:
    """``{group: {seed: [work dirs]}}`` for seeds that occur more than once in a
    group: runs that ``--ignore`` made look alike although they are not seeds of
    one experiment (e.g. transfers from two different backbones)."""
    out = {}
    for group in groups:
        dirs: Dict[object, List[str]] = {}
        for seed, run in zip(group.seeds, group.runs):
            dirs.setdefault(seed, []).append(run.work_dir)
        repeated = {seed: d for seed, d in dirs.items() if len(d) > 1}
        if repeated:
            out[group.name] = repeated
    return out
