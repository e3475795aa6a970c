"""Checkpoint integrity: a SHA-256 digest beside each checkpoint, checked on every load.

Every checkpoint this project writes (the runner's, through the atomic file
backend of ``mmdiverse.runtime``; exports and conversions, through
:func:`~.export.save_checkpoint_file`) gets a digest file ``<name>.sha256``
in ``sha256sum`` format, written after the checkpoint (so ``sha256sum -c``
checks it too). A new checkpoint first removes an old digest of the same name,
so a file is never paired with another file's digest; a job killed between the
two writes leaves a complete checkpoint without a digest.

:func:`verify_checkpoint` runs before every load of a local file (the safe
loader, so ``--resume``, ``load_from``, ``init_cfg=dict(type='Pretrained')``,
``read_checkpoint`` and the converter):

* with a digest file: the file's SHA-256 must equal it;
* without one (another tool's checkpoint): a ``torch.save`` zip archive must
  be complete and each record must match the CRC-32 the zip format records;
  other formats load unchecked.

A mismatch raises :class:`CorruptCheckpointError` naming the file and the
newest intact checkpoint in the same directory, which is never loaded in its
place.
"""

import hashlib
import os
import os.path as osp
import re
import zipfile
import zlib
from typing import Optional

DIGEST_SUFFIX = '.sha256'
#: File names that get a digest when written through the atomic backend.
CHECKPOINT_SUFFIXES = ('.pth', '.pt', '.ckpt', '.safetensors')
_ZIP_MAGIC = b'PK\x03\x04'
_HEX = re.compile(r'^([0-9a-f]{64})\b')
_CHUNK = 1 << 22


class CorruptCheckpointError(RuntimeError):
    """A checkpoint does not match its recorded digest, or is truncated."""


def is_checkpoint_name(path: str) -> bool:
    return str(path).endswith(CHECKPOINT_SUFFIXES)


def digest_path(path: str) -> str:
    """``<path>.sha256``: where the digest of ``path`` is written."""
    return f'{path}{DIGEST_SUFFIX}'


def sha256_of_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_of_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(_CHUNK), b''):
            digest.update(chunk)
    return digest.hexdigest()


def digest_line(data: bytes, path: str) -> str:
    """One ``sha256sum`` line for ``data`` written as ``path``."""
    return f'{sha256_of_bytes(data)}  {osp.basename(path)}\n'


def recorded_digest(path: str) -> Optional[str]:
    """The SHA-256 recorded beside ``path`` (None: no digest file).

    Raises:
        CorruptCheckpointError: the digest file does not hold a SHA-256.
    """
    sidecar = digest_path(path)
    if not osp.isfile(sidecar):
        return None
    with open(sidecar, 'rb') as f:
        text = f.read(4096).decode('ascii', errors='replace').strip().lower()
    match = _HEX.match(text)
    if not match:
        raise CorruptCheckpointError(
            f'{sidecar} (the digest of checkpoint {path}) does not hold '
            f'a SHA-256: it starts with {text[:40]!r}'
        )
    return match.group(1)


def zip_problem(path: str) -> Optional[str]:
    """Why the ``torch.save`` zip archive ``path`` is damaged (None: intact or not a zip)."""
    with open(path, 'rb') as f:
        if f.read(4) != _ZIP_MAGIC:
            return None  # the legacy torch format or safetensors: no CRC to check
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as error:
        return (
            f'it is not a complete zip archive ({error}; {osp.getsize(path)} bytes): '
            'truncated, or overwritten while it was copied'
        )
    if bad is not None:
        return f"its record '{bad}' does not match the CRC-32 the archive records for it"
    return None


def _problem(path: str) -> Optional[str]:
    recorded = recorded_digest(path)
    if recorded is None:
        return zip_problem(path)
    actual = sha256_of_file(path)
    if actual != recorded:
        return (
            f'its SHA-256 is {actual[:16]}..., the digest written with it '
            f'({osp.basename(digest_path(path))}) is {recorded[:16]}...: the file changed '
            f'after it was written ({osp.getsize(path)} bytes now)'
        )
    return None


def newest_intact_checkpoint(directory: str, exclude: str = '') -> Optional[str]:
    """The newest checkpoint file in ``directory`` that passes :func:`verify_checkpoint`."""
    try:
        names = [n for n in os.listdir(directory) if is_checkpoint_name(n)]
    except OSError:
        return None
    paths = [osp.join(directory, n) for n in names]
    paths = [p for p in paths if osp.isfile(p) and not _same(p, exclude)]
    for path in sorted(paths, key=osp.getmtime, reverse=True):
        try:
            if _problem(path) is None:
                return path
        except (OSError, CorruptCheckpointError):
            continue
    return None


def _same(a: str, b: str) -> bool:
    return bool(b) and osp.abspath(a) == osp.abspath(b)


def intact_alternative(path: str) -> str:
    """A sentence naming the newest intact checkpoint beside ``path`` (or that there is none)."""
    directory = osp.dirname(osp.abspath(path))
    other = newest_intact_checkpoint(directory, exclude=path)
    if other is None:
        return f' No other intact checkpoint is in {directory}.'
    return (
        f' The newest intact checkpoint in {directory} is {other}; to resume from it, '
        f'pass --resume {other} (it is not used unless you name it).'
    )


def verify_checkpoint(path: str) -> None:
    """Refuse a local checkpoint that does not match its digest or is truncated.

    Raises:
        CorruptCheckpointError: naming ``path``, what is wrong, and the newest
            intact checkpoint in its directory.
    """
    problem = _problem(path)
    if problem is not None:
        raise CorruptCheckpointError(
            f'Checkpoint {path} is corrupt: {problem}.' + intact_alternative(path)
        )
