"""Helpers behind the command-line tools in ``tools/``."""

from .check_data import check_data
from .launch import (
    add_class_check,
    add_common_args,
    build_model,
    check_checkpoint_paths,
    check_data_roots,
    check_previous_run,
    choose_dist_backend,
    load_config,
    toolbox_of,
)

__all__ = [
    'add_class_check',
    'add_common_args',
    'build_model',
    'check_checkpoint_paths',
    'check_data',
    'check_data_roots',
    'check_previous_run',
    'choose_dist_backend',
    'load_config',
    'toolbox_of',
]
