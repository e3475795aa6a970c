"""Mean and spread of one quantity over the seeds of a group of runs."""

import math
from typing import Dict, Optional, Sequence


def seed_stats(values: Sequence[Optional[float]]) -> Optional[Dict[str, object]]:
    """Mean, sample standard deviation and count of ``values``.

    Args:
        values: one value per seed; ``None`` where a run did not log it.

    Returns:
        dict | None: ``mean``, ``std`` (``n - 1`` in the denominator; 0 for a
        single seed), ``n`` (seeds with a value) and ``values`` (as given,
        ``None`` kept), or None when no seed has a value.
    """
    present = [float(v) for v in values if v is not None]
    if not present:
        return None
    n = len(present)
    mean = sum(present) / n
    var = sum((v - mean) ** 2 for v in present) / (n - 1) if n > 1 else 0.0
    return dict(mean=mean, std=math.sqrt(var), n=n, values=list(values))


def format_stat(stat: Optional[dict], digits: int = 2) -> str:
    """``'76.76 ± 0.31 (3)'``; a single seed as ``'76.76 (1)'``; ``'-'`` if None."""
    if stat is None:
        return '-'
    if stat['n'] == 1:
        return f'{stat["mean"]:.{digits}f} (1)'
    return f'{stat["mean"]:.{digits}f} ± {stat["std"]:.{digits}f} ({stat["n"]})'
