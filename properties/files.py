"""Output files: validated before any work starts, written atomically with the user's umask.

``writable_path`` / ``writable_dir`` refuse, with a ``ProblemError`` naming the option (exit 2,
one line), every path a command could not write its result to: an empty path, a path under a
file, a name over 255 bytes, a folder that cannot be created or written (``/proc/x``, a read-only
folder), and an existing non-regular file (``/dev/full``, a FIFO, a socket: an atomic write
would replace the device node when run as root). The folder is probed by creating and removing a
temporary file in it (or in its nearest existing ancestor), which is what the write will do.

``atomic_write_bytes`` writes a temporary file ``.<name>.<random>.attnsvm-tmp`` beside the
target and renames it over the target: readers see the old file or the new one, never a part.
A killed run can leave such a temporary file behind; ``remove_stale_temporaries`` deletes them
(``attnsvm reproduce`` calls it on its output folder before it writes).
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from attnsvm.reference.errors import ProblemError

#: the suffix of the temporary files ``atomic_write_bytes`` writes beside their target
TMP_SUFFIX = ".attnsvm-tmp"
#: the longest file or folder name most file systems accept (bytes)
NAME_MAX = 255


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _check_names(p: Path, field: str) -> None:
    for part in p.parts:
        if len(part.encode("utf-8", "surrogateescape")) > NAME_MAX:
            raise ProblemError(field, f"the name {part[:40]}... is longer than {NAME_MAX} bytes")


def _check_text(path: str | os.PathLike[str], field: str) -> Path:
    text = os.fspath(path)
    if not str(text).strip():
        raise ProblemError(field, "the path is empty")
    if "\x00" in str(text):
        raise ProblemError(field, "the path contains a NUL character")
    p = Path(text)
    _check_names(p, field)
    return p


def writable_path(path: str | os.PathLike[str], field: str = "output") -> Path:
    """``path`` as a Path, after checking that a file can be created there (its folder exists or
    can be created, is a folder and is writable; the path itself is not a folder and, if it
    exists, is a regular file). Raises ProblemError(field) so the CLI refuses the option before
    any work starts."""
    p = _check_text(path, field)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        st = None
    except OSError as exc:  # ENOTDIR (under a file), ELOOP, EACCES
        if exc.errno == errno.ENOTDIR:
            raise ProblemError(field, f"{p} lies under a file, not a directory") from None
        raise ProblemError(field, f"{p} cannot be used ({exc.strerror})") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise ProblemError(field, f"{p} is a directory, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise ProblemError(field, f"{p} exists and is not a regular file (a device, FIFO "
                               "or socket); name a new or regular file")
    writable_dir(p.parent if str(p.parent) else Path("."), field)
    return p


def writable_dir(path: str | os.PathLike[str], field: str = "out") -> Path:
    """``path`` as a Path to a folder that exists and is writable, or whose nearest existing
    ancestor is a writable folder (so it can be created). Raises ProblemError(field)."""
    p = _check_text(path, field)
    probe = p
    while True:
        try:
            st = os.stat(probe)
            break
        except FileNotFoundError:
            if probe.parent == probe:
                raise ProblemError(field, f"{p}: no existing folder above it") from None
            probe = probe.parent
        except OSError as exc:  # ENOTDIR: a component is a file
            if exc.errno == errno.ENOTDIR:
                raise ProblemError(field, f"{p} lies under a file, not a directory") from None
            raise ProblemError(field, f"{p} cannot be used ({exc.strerror})") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ProblemError(field, f"{probe} is a file, not a directory")
    _probe_write(probe, p, field)
    return p


def _probe_write(folder: Path, wanted: Path, field: str) -> None:
    """Create and remove a temporary file in ``folder`` (the check the write itself will pass);
    and, when ``wanted`` does not exist yet, a temporary folder (it must be creatable)."""
    try:
        if folder == wanted:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".attnsvm-probe.", suffix=TMP_SUFFIX)
            os.close(fd)
            os.unlink(tmp)
        else:
            tmpdir = tempfile.mkdtemp(dir=folder, prefix=".attnsvm-probe.", suffix=TMP_SUFFIX)
            os.rmdir(tmpdir)
    except OSError as exc:
        raise ProblemError(field, f"{folder} is not writable ({exc.strerror or exc})") from None


def _write_error(path: Path, exc: OSError) -> ProblemError:
    return ProblemError("output", f"cannot write {path} ({exc.strerror or exc})")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path`` (readers
    see the old file or the new one, never a part), with the permissions of the user's umask.
    An OS error (disk full, folder removed meanwhile) becomes a ProblemError('output') and no
    temporary file is left behind."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _write_error(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files (``.*<TMP_SUFFIX>``) a killed ``atomic_write_bytes`` left in
    ``folder``; returns what was removed."""
    d = Path(folder)
    removed: list[Path] = []
    if not d.is_dir():
        return removed
    for f in d.iterdir():
        if f.name.startswith(".") and f.name.endswith(TMP_SUFFIX) and f.is_file():
            f.unlink(missing_ok=True)
            removed.append(f)
    return removed


def cache_dir() -> Path:
    """attnsvm's cache folder: ``$ATTNSVM_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/attnsvm``,
    else ``~/.cache/attnsvm``. It holds caches only (hypothesis's example database of
    ``attnsvm hunt`` in ``<cache>/hypothesis/``), never a result: deleting it loses nothing."""
    env = os.environ.get("ATTNSVM_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) / "attnsvm" if xdg else Path.home() / ".cache" / "attnsvm"


def hypothesis_db_dir(name: str) -> Path | None:
    """``<cache>/hypothesis/<name>`` (created), or None when the cache cannot be written (the
    command then runs without an example database; a cache never stops a command)."""
    d = cache_dir() / "hypothesis" / name
    try:
        d.mkdir(parents=True, exist_ok=True)
        _probe_write(d, d, "cache")
    except (OSError, ProblemError):
        return None
    return d
