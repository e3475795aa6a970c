"""Decode every image and label map of a config's splits before training.

``tools/train.py --check-data`` calls :func:`check_data`: the data sets of the
run's splits are built as the Runner would build them, every file they list
is read and decoded in a process pool (with mmengine's progress bar), and all
the bad files are reported together, before the first iteration. Without the
flag, a bad file stops the run when the pipeline reaches it (the checked
loaders name it then).
"""

import copy
import os
import time
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine import fileio
from mmengine.config import Config
from mmengine.registry import DATASETS, init_default_scope
from mmengine.utils import track_parallel_progress, track_progress

from ..datasets.transforms.checked_loading import BadDataError, decode_checked
from .launch import toolbox_of

#: An image file and its label map (``None`` for classification).
Sample = Tuple[str, Optional[str]]


def data_files(cfg: Config, splits: Sequence[str]) -> List[Sample]:
    """The ``(img_path, seg_map_path)`` of every sample of ``splits``, each once.

    Args:
        cfg: The config; ``<split>_dataloader.dataset`` is built in its scope.
        splits: ``'train'``, ``'val'``, ``'test'``; splits without a
            dataloader are skipped.
    """
    init_default_scope(toolbox_of(cfg))
    samples: Dict[Sample, None] = {}
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not isinstance(loader, dict) or loader.get('dataset') is None:
            continue
        dataset = DATASETS.build(copy.deepcopy(loader['dataset']))
        if hasattr(dataset, 'full_init'):
            dataset.full_init()
        for index in range(len(dataset)):
            info = dataset.get_data_info(index)
            samples[(info['img_path'], info.get('seg_map_path'))] = None
    return list(samples)


def check_sample(sample: Sample) -> List[str]:
    """Read and decode one image (and its label map); what is wrong with them.

    The image is decoded as the checked loader does (OpenCV, colour), the
    label map as mmseg's ``LoadAnnotations`` does (Pillow, unchanged); a
    label map must have its image's height and width.

    Returns:
        list[str]: One line per problem, each naming its file.
    """
    image_path, label_path = sample
    problems: List[str] = []
    image = _decode(image_path, 'color', 'cv2', problems)
    if label_path is not None:
        label = _decode(label_path, 'unchanged', 'pillow', problems)
        if image is not None and label is not None and image.shape[:2] != label.shape[:2]:
            problems.append(
                f'label map {label_path} is {label.shape[1]}x{label.shape[0]} '
                f'(width x height) but its image {image_path} is '
                f'{image.shape[1]}x{image.shape[0]}'
            )
    return problems


def _decode(path: str, flag: str, backend: str, problems: List[str]):
    try:
        return decode_checked(fileio.get(path), path, flag, backend)
    except BadDataError as error:
        problems.append(str(error))
    except Exception as error:  # noqa: BLE001 -- reported with the file named
        problems.append(f'cannot read {path}: {type(error).__name__}: {error}')
    return None


def check_data(cfg: Config, splits: Sequence[str], nproc: Optional[int] = None) -> dict:
    """Decode every file of ``splits`` in ``nproc`` processes; refuse bad ones together.

    Args:
        cfg: The config.
        splits: The splits the run uses.
        nproc: Processes (default: the CPUs this process may use).

    Returns:
        dict: ``samples`` checked and ``seconds`` taken.

    Raises:
        BadDataError: listing every bad file, one per line.
    """
    samples = data_files(cfg, splits)
    nproc = nproc or len(os.sched_getaffinity(0))
    start = time.perf_counter()
    if nproc > 1 and len(samples) > 1:
        results = track_parallel_progress(
            check_sample, samples, nproc, chunksize=max(1, min(64, len(samples) // (4 * nproc)))
        )
    else:
        results = track_progress(check_sample, samples)
    seconds = time.perf_counter() - start
    problems = [line for lines in results for line in lines]
    if problems:
        raise BadDataError(
            f'--check-data: {len(problems)} problem(s) in the {len(samples)} '
            f'samples of {", ".join(splits)}:\n  ' + '\n  '.join(problems)
        )
    return dict(samples=len(samples), seconds=seconds)
