"""Output files: validated before any work starts, written atomically with the user's umask."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from attnsvm.reference.errors import ProblemError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def writable_path(path: str | os.PathLike[str], field: str = "output") -> Path:
    """``path`` as a Path, after checking that a file can be created there (its folder exists or
    can be created, is a folder and is writable; the path itself is not a folder). Raises
    ProblemError(field) so the CLI refuses the option before any work starts."""
    p = Path(path)
    if not str(path).strip():
        raise ProblemError(field, "the path is empty")
    if p.is_dir():
        raise ProblemError(field, f"{p} is a directory, not a file")
    if len(p.name.encode()) > 255:
        raise ProblemError(field, f"the file name is longer than 255 bytes: {p.name[:40]}...")
    writable_dir(p.parent if str(p.parent) else Path("."), field)
    return p


def writable_dir(path: str | os.PathLike[str], field: str = "out") -> Path:
    """``path`` as a Path to a folder that exists (or whose nearest existing ancestor is a
    writable folder, so it can be created)."""
    p = Path(path)
    probe = p
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ProblemError(field, f"{probe} is a file, not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ProblemError(field, f"{probe} is not writable")
    return p


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path`` (readers
    see the old file or the new one, never a part), with the permissions of the user's umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())
