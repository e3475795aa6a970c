"""Refuse unknown hook arguments before the run starts, naming the config key.

A hook whose ``__init__`` takes fixed arguments fails on a misspelled one when
the Runner builds it, with a ``TypeError`` that names no config key. Worse, a
hook that takes ``**kwargs`` and forwards them fails only when it first uses
them: ``CheckpointHook`` passes its extra keyword arguments to
``Runner.save_checkpoint``, so ``default_hooks.checkpoint.intervall=2`` trains
the whole first epoch and then fails at the first save, writing nothing.
:func:`check_hook_arguments` reads each hook's signature (and, for the hooks
of :data:`FORWARDED_TO`, the signature of what receives their ``**kwargs``) and
refuses every key that nothing accepts.
"""

import difflib
import inspect
from typing import Callable, Dict, List, Optional, Set, Tuple

from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS

# Keys every hook config may hold besides the hook's arguments (Runner.register_hook
# pops 'priority'; the registry reads 'type' and '_scope_').
_RUNNER_KEYS = {'type', 'priority', '_scope_'}
# Keyword arguments CheckpointHook passes to save_checkpoint itself.
_CHECKPOINT_HOOK_PASSES = {
    'self',
    'out_dir',
    'filename',
    'file_client_args',
    'save_optimizer',
    'save_param_scheduler',
    'meta',
    'by_epoch',
    'backend_args',
}


def _save_checkpoint_options(runner_cls) -> Tuple[Set[str], bool]:
    return _named_parameters(runner_cls.save_checkpoint, _CHECKPOINT_HOOK_PASSES)


# Hooks that take **kwargs and forward them: the names the receiver accepts, and
# whether the receiver itself takes any keyword, given the Runner class.
FORWARDED_TO: Dict[type, Tuple[str, Callable]] = {
    CheckpointHook: ('save_checkpoint', _save_checkpoint_options),
}


class UnknownHookArgumentError(TypeError):
    """A hook config holds a keyword argument that neither the hook nor what it
    forwards its keyword arguments to accepts."""


def check_hook_arguments(
    default_hooks: Optional[dict],
    custom_hooks: Optional[list],
    runner_cls: type,
    scope: Optional[str] = None,
) -> None:
    """Check every dict in ``default_hooks`` and ``custom_hooks`` against its hook.

    Args:
        default_hooks (dict, optional): ``name -> hook config`` (``None`` values
            switch a hook off).
        custom_hooks (list, optional): Hook configs.
        runner_cls (type): The Runner class, whose ``save_checkpoint``
            receives ``CheckpointHook``'s extra arguments.
        scope (str, optional): The config's ``default_scope`` the types are
            looked up in (``'mmpretrain'``, ``'mmseg'``).

    Raises:
        UnknownHookArgumentError: naming the key, e.g.
            ``default_hooks.checkpoint.intervall``, and the nearest valid name.
        KeyError: for a hook type that is not registered, naming the key.
    """
    entries = [(f'default_hooks.{name}', cfg) for name, cfg in (default_hooks or {}).items()]
    entries += [(f'custom_hooks[{index}]', cfg) for index, cfg in enumerate(custom_hooks or [])]
    for key, cfg in entries:
        if isinstance(cfg, dict) and 'type' in cfg:
            _check_one(key, cfg, runner_cls, cfg.get('_scope_', scope))


def _check_one(key: str, cfg: dict, runner_cls: type, scope: Optional[str]) -> None:
    hook_cls = cfg['type']
    if not inspect.isclass(hook_cls):
        with HOOKS.switch_scope_and_registry(scope) as registry:  # as Runner builds them
            hook_cls = registry.get(hook_cls)
    if hook_cls is None:
        raise KeyError(
            f'{key}.type={cfg["type"]!r} is not a registered hook (check the '
            'spelling, and custom_imports for hooks of other packages)'
        )
    accepted, forward = accepted_arguments(hook_cls, runner_cls)
    if accepted is None:  # **kwargs that go somewhere unknown: anything may be valid
        return
    for name in cfg:
        if name in accepted or name in _RUNNER_KEYS:
            continue
        close = difflib.get_close_matches(name, sorted(accepted), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ''
        where = (
            f'{hook_cls.__name__} takes no argument {name!r}, nor does '
            f'{runner_cls.__name__}.{forward}, which it passes its other keyword '
            'arguments to'
            if forward
            else f'{hook_cls.__name__} takes no argument {name!r}'
        )
        raise UnknownHookArgumentError(
            f'{key}.{name}: {where}{hint} (it takes: {", ".join(sorted(accepted)) or "nothing"})'
        )


def accepted_arguments(hook_cls: type, runner_cls: type) -> Tuple[Optional[Set[str]], str]:
    """The keyword arguments a hook config may give ``hook_cls``.

    Walks the ``__init__`` of ``hook_cls`` and its bases while each passes
    ``**kwargs`` on to the next; a hook of :data:`FORWARDED_TO` adds what its
    receiver accepts.

    Returns:
        tuple: the accepted names (``None`` when unknown ``**kwargs`` make
        every name possible) and the name of the receiver of the forwarded
        arguments (``''`` when none).
    """
    names: Set[str] = set()
    inits: List[type] = [
        klass for klass in hook_cls.__mro__ if klass is not object and '__init__' in vars(klass)
    ]
    for position, klass in enumerate(inits):
        own, var_keyword = _named_parameters(vars(klass)['__init__'], {'self'})
        names |= own
        if klass in FORWARDED_TO:
            receiver, options = FORWARDED_TO[klass]
            forwarded, open_ended = options(runner_cls)
            return (None if open_ended else names | forwarded), receiver
        if not var_keyword:
            return names, ''
        if position + 1 == len(inits):
            return None, ''  # **kwargs kept for an unknown use
    return names, ''


def _named_parameters(function: Callable, skip: Set[str]) -> Tuple[Set[str], bool]:
    parameters = inspect.signature(function).parameters.values()
    names = {
        p.name
        for p in parameters
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in skip
    }
    return names, any(p.kind == p.VAR_KEYWORD for p in parameters)
