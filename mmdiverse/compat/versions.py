"""Version bounds of the compat fixes: each fix applies only to the versions it names."""

from importlib import metadata
from typing import Optional

from packaging.version import Version


def installed_version(distribution: str) -> Optional[str]:
    """The installed version of ``distribution`` (a pip name), or None."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def in_range(version: Optional[str], lowest: str, below: Optional[str] = None) -> bool:
    """Whether ``lowest <= version < below`` (``below=None``: no upper bound).

    Local and pre-release tags count as their release (``2.1.0+cu121`` is
    ``2.1.0``); a missing version (None) is in no range.
    """
    if version is None:
        return False
    release = Version(Version(version).base_version)
    return Version(lowest) <= release and (below is None or release < Version(below))
