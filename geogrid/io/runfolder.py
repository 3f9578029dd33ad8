"""A results folder written as one unit: path checks, lock, staging, manifest, signals.

A command that writes a folder (``demo``, ``coverage``, ``grids``, ``site``) runs inside a
:class:`RunFolder`:

1. the ``--out`` path is checked before any computation (:func:`check_output_folder`);
2. the folder is locked (``.geogrid.lock`` holds the owner's pid; a lock left by a killed run is
   taken over), temporary files left by a killed run are removed, and no output would overwrite
   anything but a previous output recorded in the folder's ``run.json``;
3. the writers write into a staging folder ``.geogrid-tmp-<pid>-...`` inside the target;
4. only when the whole run succeeded are the finished files moved in, one atomic rename each,
   and the manifest ``run.json`` is written last (:data:`MANIFEST`).

An interrupted run (SIGINT, SIGTERM, see :func:`handle_signals`) removes its staging folder and
leaves the target as it was. A command that reads a results folder calls
:func:`check_results_folder`: it refuses a folder being written right now, removes temporaries
of killed runs, and warns, naming the files, when they do not match the manifest.

Every temporary file or folder geogrid writes starts with :data:`TEMP_PREFIX`, followed by the
writer's pid, so that a later command can tell a live writer's from a killed one's.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import math
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from geogrid.errors import GeogridError

__all__ = [
    "LOCK_NAME",
    "MANIFEST",
    "TEMP_PREFIX",
    "OutputError",
    "RunFolder",
    "RunInterrupted",
    "check_output_file",
    "check_output_folder",
    "check_results_folder",
    "file_sha256",
    "fixed_timestamp",
    "handle_signals",
    "hash_inputs",
    "is_temporary",
    "read_manifest",
    "remove_stale_temporaries",
    "stable_zip",
]

log = logging.getLogger(__name__)

#: Name prefix of every temporary file or folder geogrid writes: ``.geogrid-tmp-<pid>-...``.
TEMP_PREFIX = ".geogrid-tmp-"
#: Lock file of a folder being written; holds the writer's pid.
LOCK_NAME = ".geogrid.lock"
#: The manifest of a results folder.
MANIFEST = "run.json"
#: Manifest keys whose values differ between two runs of the same inputs (times).
VOLATILE_KEYS = ("timing",)

_MANIFEST_FORMAT = 1
_TEMP_RE = re.compile(re.escape(TEMP_PREFIX) + r"(\d+)-")
#: Files of a results folder that a reader may read (checked against the manifest).
_DATA_SUFFIXES = (".gpkg", ".geojson", ".parquet", ".shp", ".csv", ".xlsx")


class OutputError(GeogridError):
    """An output path cannot be written as given (the message names the fix)."""


class RunInterrupted(BaseException):  # noqa: N818 - like KeyboardInterrupt, not an error
    """Raised in the main thread when SIGINT or SIGTERM arrives during a run."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        """Shell convention: 128 + signal number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum


# --------------------------------------------------------------------------- fixed timestamps


def fixed_timestamp() -> _dt.datetime:
    """Return the time written into outputs instead of the clock (byte-identical reruns).

    ``SOURCE_DATE_EPOCH`` (the reproducible-builds convention) when set, else 2000-01-01 UTC.

    Returns
    -------
    datetime.datetime
        Timezone-aware (UTC).

    Examples
    --------
    >>> import os
    >>> "SOURCE_DATE_EPOCH" in os.environ or fixed_timestamp().year == 2000
    True

    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return _dt.datetime.fromtimestamp(max(int(epoch), 315_532_800), tz=_dt.timezone.utc)
    return _dt.datetime(2000, 1, 1, tzinfo=_dt.timezone.utc)


_CORE_TIME = re.compile(rb"(<dcterms:(created|modified)\b[^>]*>)[^<]*(</dcterms:\2>)")


def stable_zip(path: str | os.PathLike[str]) -> None:
    """Rewrite a zip container (``.xlsx``) with fixed entry times and document dates.

    openpyxl stamps the clock into every zip entry and into ``docProps/core.xml``
    (created/modified); both become :func:`fixed_timestamp`, so the same workbook content gives
    the same bytes. Entry order, names and compression are kept.

    Parameters
    ----------
    path : str or path-like
        The ``.xlsx`` (any zip) to rewrite in place.

    Examples
    --------
    >>> stable_zip("report.xlsx")  # doctest: +SKIP

    """
    p = Path(path)
    when = fixed_timestamp()
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    date_time = (when.year, when.month, when.day, when.hour, when.minute, when.second)
    with zipfile.ZipFile(p) as src:
        entries = [(info, src.read(info)) for info in src.infolist()]
    tmp = p.with_name(f"{TEMP_PREFIX}{os.getpid()}-zip{p.suffix}")
    try:
        with zipfile.ZipFile(tmp, "w") as dst:
            for info, raw in entries:
                data = raw
                if info.filename == "docProps/core.xml":
                    data = _CORE_TIME.sub(rb"\g<1>" + stamp + rb"\g<3>", raw)
                new = zipfile.ZipInfo(info.filename, date_time=date_time)
                new.compress_type = info.compress_type
                new.external_attr = info.external_attr
                dst.writestr(new, data)
        os.replace(tmp, p)
    finally:
        if tmp.exists():
            tmp.unlink()


# --------------------------------------------------------------------------- signals

_installed = threading.local()


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise RunInterrupted(signum)


@contextlib.contextmanager
def handle_signals() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into :class:`RunInterrupted` while the block runs.

    The exception unwinds every ``with``/``finally`` on the way, so staging folders and
    temporary files are removed. Only in the main thread (elsewhere a no-op); nested use is a
    no-op.

    Yields
    ------
    None

    Examples
    --------
    >>> with handle_signals():
    ...     pass  # Ctrl-C in here raises RunInterrupted, which removes staged files on its way

    """
    if threading.current_thread() is not threading.main_thread() or getattr(
        _installed, "on", False
    ):
        yield
        return
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in old:
        signal.signal(s, _raise_interrupted)
    _installed.on = True
    try:
        yield
    finally:
        _installed.on = False
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back while the block runs (moving files in, cleaning up)."""
    sigs = {signal.SIGINT, signal.SIGTERM}
    can = (
        hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()
    )
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs) if can else None
    try:
        yield
    finally:
        if can and old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


# --------------------------------------------------------------------------- path checks


def _limits(existing: Path) -> tuple[int, int]:
    try:
        return os.pathconf(existing, "PC_NAME_MAX"), os.pathconf(existing, "PC_PATH_MAX")
    except (AttributeError, OSError, ValueError):
        return 255, 4096


def _existing_ancestor(p: Path) -> Path:
    for q in (p, *p.parents):
        with contextlib.suppress(OSError):  # e.g. a name too long to look up
            if q.exists():
                return q
    return Path(p.anchor or ".")


def _check_lengths(p: Path, option: str) -> None:
    name_max, path_max = _limits(_existing_ancestor(p))
    for part in p.parts:
        size = len(os.fsencode(part))
        if size > name_max:
            shown = part if len(part) <= 40 else part[:37] + "..."
            msg = (
                f"{option} path part {shown!r} is {size} bytes, longer than the {name_max} "
                "this file system allows; use a shorter name"
            )
            raise OutputError(msg)
    size = len(os.fsencode(str(p)))
    if size > path_max - 64:  # room for the staging folder and temporary names
        msg = f"{option} path is {size} bytes, too long for this file system; use a shorter path"
        raise OutputError(msg)


def _writable(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (tried: permissions, read-only mounts)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        fd, probe = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-probe", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def _check_writable(p: Path, option: str) -> None:
    base = _existing_ancestor(p)
    if not base.is_dir():
        msg = (
            f"{option} {str(p)!r} is inside {str(base)!r}, which is a file; pass a path in a folder"
        )
        raise OutputError(msg)
    if not _writable(base):
        msg = (
            f"{option} folder {str(base)!r} is not writable; choose a folder you can write to "
            "(or fix its permissions)"
        )
        raise OutputError(msg)


def check_output_folder(path: str | os.PathLike[str], option: str = "--out") -> Path:
    """Check an output folder before any computation and return it (absolute).

    Raises
    ------
    OutputError
        The path is an existing file, a path part is longer than the file system allows, or
        the folder (or the nearest existing folder above it) is not writable.

    Parameters
    ----------
    path : str or path-like
        The folder (need not exist yet).
    option : str
        The option name the error message shows (``--out``).

    Returns
    -------
    Path

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> check_output_folder(folder / "out") == (folder / "out").absolute()
    True

    """
    p = Path(path).expanduser().absolute()
    _check_lengths(p, option)
    if p.exists() and not p.is_dir():
        msg = f"{option} {str(path)!r} is an existing file; pass a folder (new or existing)"
        raise OutputError(msg)
    _check_writable(p, option)
    return p


def check_output_file(
    path: str | os.PathLike[str],
    *,
    suffixes: tuple[str, ...] = (".html", ".htm"),
    option: str = "--out",
) -> Path:
    """Check an output file before any computation and return it (absolute).

    Only a file of the same kind (one of ``suffixes``) is ever replaced: an existing folder, or
    an existing file of another kind (a CSV, a GeoPackage of results), is refused.

    Raises
    ------
    OutputError
        As above, or the name does not end in one of ``suffixes``, a path part is too long, or
        the folder is not writable.

    Parameters
    ----------
    path : str or path-like
        The file (need not exist yet).
    suffixes : tuple of str
        The kinds of file it may be.
    option : str
        The option name the error message shows (``--out``).

    Returns
    -------
    Path

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> check_output_file(folder / "map.html").name
    'map.html'

    """
    p = Path(path).expanduser().absolute()
    _check_lengths(p, option)
    want = suffixes[0]
    if p.is_dir():
        msg = f"{option} {str(path)!r} is an existing folder; pass a file name such as {str(Path(path) / ('map' + want))!r}"
        raise OutputError(msg)
    if p.suffix.lower() not in suffixes:
        what = "an existing file that is not" if p.exists() else "not"
        msg = (
            f"{option} {str(path)!r} is {what} an {want} file and would not be replaced; "
            f"pass a name ending in {want}, e.g. {str(Path(path).with_suffix(want))!r}"
        )
        raise OutputError(msg)
    _check_writable(p.parent, option)
    return p


# --------------------------------------------------------------------------- hashes, manifest


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, as hex.

    Parameters
    ----------
    path : str or path-like
        The file.

    Returns
    -------
    str

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.txt").write_bytes(b"abc")
    >>> file_sha256(folder / "a.txt")[:16]
    'ba7816bf8f01cfea'

    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_SIDECARS = (".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx")


def _input_files(path: Path) -> list[Path]:
    """List the files an input path stands for (a shapefile's sidecars too)."""
    if path.is_dir():
        return sorted(q for q in path.rglob("*") if q.is_file())
    files = [path]
    if path.suffix.lower() == ".shp":
        for s in _SIDECARS:
            for q in (path.with_suffix(s), path.with_suffix(s.upper())):
                if q.exists() and q not in files:
                    files.append(q)
    return files


def hash_inputs(inputs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{option: {"path", "sha256", "bytes"}}`` for each input given as a path.

    Parameters
    ----------
    inputs : mapping
        Option name -> value; values that are paths of existing files are hashed, others skipped.

    Returns
    -------
    dict of str to dict

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.txt").write_bytes(b"abc")
    >>> hash_inputs({"demand": str(folder / "a.txt"), "speed": 4.0})["demand"]["bytes"]
    3

    """
    out: dict[str, dict[str, Any]] = {}
    for key, value in inputs.items():
        if not isinstance(value, str | os.PathLike) or not Path(value).exists():
            continue
        for i, f in enumerate(_input_files(Path(value))):
            name = key if i == 0 else f"{key}{f.suffix.lower()}"
            out[name] = {
                "path": str(f.resolve()),
                "sha256": file_sha256(f),
                "bytes": f.stat().st_size,
            }
    return out


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """Return the folder's manifest, or None when it has none (or an unreadable one).

    Parameters
    ----------
    folder : Path
        A results folder.

    Returns
    -------
    dict or None
        The parsed ``run.json``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> read_manifest(folder) is None
    True

    """
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or data.get("geogrid_manifest") != _MANIFEST_FORMAT:
        return None
    return data


def _recorded(manifest: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Every output the manifest knows: this run's and earlier runs' still in the folder."""
    if not manifest:
        return {}
    out = dict(manifest.get("earlier_outputs") or {})
    out.update(manifest.get("outputs") or {})
    return out


def _is_recorded(path: Path, record: Mapping[str, Any] | None) -> bool:
    """Whether ``path`` is, byte for byte, the output its manifest record describes."""
    return bool(record) and file_sha256(path) == record.get("sha256")  # type: ignore[union-attr]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("geogrid")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


# --------------------------------------------------------------------------- temporaries, lock


def is_temporary(name: str) -> bool:
    """Whether a file or folder name is one of geogrid's temporaries.

    Parameters
    ----------
    name : str
        A file or folder name.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_temporary(".geogrid-tmp-123-x.gpkg"), is_temporary("coverage.gpkg")
    (True, False)

    """
    return name.startswith(TEMP_PREFIX)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    if os.name == "nt":  # pragma: no cover - os.kill(pid, 0) would terminate it on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:  # pragma: no cover - e.g. Windows
        return True
    return True


def _stale_temporaries(folder: Path, depth: int = 2) -> list[Path]:
    """Temporaries under ``folder`` (``depth`` levels) whose writer is no longer running."""
    found: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return found
    for entry in sorted(entries, key=lambda e: e.name):
        m = _TEMP_RE.match(entry.name)
        if m:
            if not _pid_alive(int(m.group(1))):
                found.append(Path(entry.path))
        elif depth > 1 and entry.is_dir(follow_symlinks=False):
            found.extend(_stale_temporaries(Path(entry.path), depth - 1))
    return found


def remove_stale_temporaries(folder: Path) -> list[str]:
    """Remove temporaries left by killed runs; return their names (relative to ``folder``).

    Parameters
    ----------
    folder : Path
        A results folder.

    Returns
    -------
    list of str

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> remove_stale_temporaries(folder)
    []

    """
    names = []
    for p in _stale_temporaries(folder):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        names.append(p.relative_to(folder).as_posix())
    if names:
        log.warning(
            "removed %d temporary file(s) left in %s by an interrupted run: %s",
            len(names),
            folder,
            ", ".join(names[:5]) + (" ..." if len(names) > 5 else ""),
        )
    return names


def _read_lock(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _lock_owner(folder: Path) -> dict[str, Any] | None:
    """Return the live writer holding ``folder``'s lock, or None."""
    info = _read_lock(folder / LOCK_NAME)
    pid = info.get("pid")
    if not isinstance(pid, int):
        return None
    if info.get("host") not in (None, socket.gethostname()):
        return info  # another machine's run (shared drive): assume it is alive
    return info if _pid_alive(pid) and pid != os.getpid() else None


def _busy_message(folder: Path, owner: Mapping[str, Any]) -> str:
    return (
        f"another geogrid run (pid {owner.get('pid')}, geogrid {owner.get('command', '?')}) is "
        f"writing into {str(folder)!r}; wait for it to finish or choose another --out folder "
        f"(if no geogrid is running, delete {LOCK_NAME} in that folder)"
    )


class _Lock:
    """``folder/.geogrid.lock``: created exclusively, holds the owner's pid."""

    def __init__(self, folder: Path, command: str) -> None:
        self.path = folder / LOCK_NAME
        self.folder = folder
        self.command = command
        self.held = False

    def acquire(self) -> None:
        body = json.dumps(
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "command": self.command,
                "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            }
        )
        for _ in range(5):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            except OSError as exc:
                msg = (
                    f"cannot create {self.path} ({exc.strerror}); choose a folder you can write to"
                )
                raise OutputError(msg) from exc
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(body)
            self.held = True
            return
        msg = f"could not lock {str(self.folder)!r}; retry, or delete {LOCK_NAME} in that folder"
        raise OutputError(msg)

    def _take_over_if_stale(self) -> None:
        info = _read_lock(self.path)
        if not info:
            # being written by its owner right now, or garbage: garbage is old
            try:
                if time.time() - self.path.stat().st_mtime < 5:
                    time.sleep(0.2)
                    return
            except FileNotFoundError:
                return
        owner = _lock_owner(self.folder) if info else None
        if owner is not None:
            raise OutputError(_busy_message(self.folder, owner))
        # stale: move it aside under a unique name (only one taker wins the rename)
        aside = self.folder / f"{TEMP_PREFIX}{os.getpid()}-stale-lock"
        try:
            os.replace(self.path, aside)
        except FileNotFoundError:
            return
        again = _read_lock(aside)
        if again.get("pid") != info.get("pid"):
            # we moved a lock someone just took; give it back
            with contextlib.suppress(OSError):
                os.link(aside, self.path)
        else:
            log.warning(
                "took over the lock of %s left by geogrid pid %s, which is no longer running",
                self.folder,
                info.get("pid", "?"),
            )
        aside.unlink(missing_ok=True)

    def release(self) -> None:
        if self.held:
            info = _read_lock(self.path)
            if info.get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)
            self.held = False


# --------------------------------------------------------------------------- the run folder


class RunFolder:
    """Write a command's outputs into a folder as one unit.

    Parameters
    ----------
    out : path-like
        The output folder (created if missing). Checked at once: see
        :func:`check_output_folder`.
    command : str
        The command, e.g. ``"coverage"``.
    parameters : mapping
        The command's parameters (recorded in the manifest).
    inputs : mapping, optional
        Option -> input file; each is hashed (SHA-256) before the run and checked unchanged
        after it.
    planned : iterable of str, optional
        Output names (relative to ``out``) the command will write, checked before any
        computation against files already in the folder.

    Examples
    --------
    >>> with RunFolder("out", command="coverage", parameters={}) as run:  # doctest: +SKIP
    ...     write_table(table, run.stage / "summary.csv")
    ...     run.timing["solver"] = {"highs_s": 1.2}

    Attributes
    ----------
    stage : Path
        Where the writers write, inside the target; moved in when the block succeeds.
    timing : dict
        Extra timings for the manifest (solver seconds, steps).
    written : list of str
        The files moved in (relative to ``out``), once the block succeeded.

    """

    def __init__(
        self,
        out: str | os.PathLike[str],
        *,
        command: str,
        parameters: Mapping[str, Any] | None = None,
        inputs: Mapping[str, Any] | None = None,
        planned: Iterable[str] = (),
    ) -> None:
        self.target = check_output_folder(out)
        self.command = command
        self.parameters = dict(parameters or {})
        self.inputs = {k: v for k, v in (inputs or {}).items() if v is not None}
        self.planned = list(planned)
        self.timing: dict[str, Any] = {}
        self.written: list[str] = []
        self.stage = self.target  # replaced on entry
        self._lock = _Lock(self.target, command)
        self._created = False
        self._input_hashes: dict[str, dict[str, Any]] = {}
        self._start = _dt.datetime.now(_dt.timezone.utc)
        self._t0 = time.perf_counter()
        self._signals = handle_signals()

    # -- entering

    def __enter__(self) -> RunFolder:
        self._signals.__enter__()
        try:
            self._enter()
        except BaseException:
            self._cleanup(failed=True)
            self._signals.__exit__(None, None, None)
            raise
        return self

    def _enter(self) -> None:
        if not self.target.exists():
            try:
                self.target.mkdir(parents=True)
            except FileExistsError:
                pass
            except OSError as exc:
                msg = f"cannot create --out folder {str(self.target)!r} ({exc.strerror}); choose another folder"
                raise OutputError(msg) from exc
            else:
                self._created = True
        self._lock.acquire()
        remove_stale_temporaries(self.target)
        self._check_overwrite(self.planned)
        self._input_hashes = hash_inputs(self.inputs)
        self.stage = Path(
            tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-stage-", dir=self.target)
        )
        self._start = _dt.datetime.now(_dt.timezone.utc)
        self._t0 = time.perf_counter()

    def _check_overwrite(self, names: Iterable[str]) -> None:
        known = _recorded(read_manifest(self.target))
        inputs = [Path(v) for v in self.inputs.values() if isinstance(v, str | os.PathLike)]
        for name in names:
            dest = self.target / name
            for src in inputs:
                with contextlib.suppress(OSError):
                    if src.exists() and dest.exists() and os.path.samefile(src, dest):
                        msg = (
                            f"the output {str(dest)!r} is also an input of this run; "
                            "choose another --out folder"
                        )
                        raise OutputError(msg)
            if dest.is_dir() and not dest.is_symlink():
                msg = f"{str(dest)!r} is a folder where geogrid writes a file; choose another --out folder"
                raise OutputError(msg)
            if dest.exists() and not _is_recorded(dest, known.get(name)):
                msg = (
                    f"{str(dest)!r} exists and is not an earlier geogrid output recorded in "
                    f"{MANIFEST} (or was edited since); move it away or choose another --out folder"
                )
                raise OutputError(msg)

    # -- leaving

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            with _signals_deferred():
                failed = exc_type is not None
                try:
                    if not failed:
                        self._commit()
                except BaseException:
                    failed = True
                    raise
                finally:
                    self._cleanup(failed=failed)
        finally:
            self._signals.__exit__(None, None, None)

    def _staged(self) -> list[str]:
        return sorted(
            p.relative_to(self.stage).as_posix()
            for p in self.stage.rglob("*")
            if p.is_file() and not is_temporary(p.name)
        )

    def _commit(self) -> None:
        names = self._staged()
        if MANIFEST in names:
            msg = f"a command wrote its own {MANIFEST}; that name is the run's manifest"
            raise OutputError(msg)
        self._check_overwrite(names)
        outputs = {
            n: {"sha256": file_sha256(self.stage / n), "bytes": (self.stage / n).stat().st_size}
            for n in names
        }
        self._check_inputs_unchanged()
        old = read_manifest(self.target)
        for n in names:
            dest = self.target / n
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.stage / n, dest)
        self.written = names
        manifest = self._manifest(outputs, old)
        tmp = self.target / f"{TEMP_PREFIX}{os.getpid()}-manifest.json"
        tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.target / MANIFEST)
        log.info("wrote %d files and %s into %s", len(names), MANIFEST, self.target)

    def _check_inputs_unchanged(self) -> None:
        now = hash_inputs(self.inputs)
        changed = [
            k for k, v in self._input_hashes.items() if now.get(k, {}).get("sha256") != v["sha256"]
        ]
        if changed:
            msg = (
                f"input file(s) {', '.join(self._input_hashes[k]['path'] for k in changed)} "
                "changed while geogrid was reading them; run again once they are final"
            )
            raise OutputError(msg)

    def _earlier(self, old: Mapping[str, Any] | None, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """Return earlier runs' outputs still in the folder, unchanged and not replaced now."""
        if not old:
            return {}
        keep: dict[str, Any] = {}
        for name, rec in (old.get("earlier_outputs") or {}).items():
            keep[name] = rec
        for name, rec in (old.get("outputs") or {}).items():
            keep[name] = {**rec, "command": old.get("command")}
        out = {}
        for name, rec in sorted(keep.items()):
            path = self.target / name
            if name in outputs or not path.is_file():
                continue
            if file_sha256(path) == rec.get("sha256"):
                out[name] = rec
        return out

    def _manifest(
        self, outputs: Mapping[str, Any], old: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        manifest: dict[str, Any] = {
            "geogrid_manifest": _MANIFEST_FORMAT,
            "geogrid_version": _version(),
            "command": self.command,
            "parameters": _jsonable(self.parameters),
            "inputs": self._input_hashes,
            "outputs": dict(outputs),
        }
        earlier = self._earlier(old, outputs)
        if earlier:
            manifest["earlier_outputs"] = earlier
        manifest["timing"] = _jsonable(
            {
                "started": self._start.isoformat(timespec="seconds"),
                "duration_s": round(time.perf_counter() - self._t0, 3),
                **self.timing,
            }
        )
        return manifest

    def _cleanup(self, *, failed: bool) -> None:
        if self.stage != self.target:
            shutil.rmtree(self.stage, ignore_errors=True)
        self._lock.release()
        if failed and self._created:
            with contextlib.suppress(OSError):
                self.target.rmdir()  # only if still empty


# --------------------------------------------------------------------------- reading a folder


def check_results_folder(folder: str | os.PathLike[str]) -> list[str]:
    """Check a results folder before reading it; return the warnings (also logged).

    Refuses a folder another geogrid run is writing right now, removes temporaries left by
    killed runs, and compares the folder's files with its manifest: outputs missing or changed
    since the run wrote them, outputs of an earlier run mixed with the latest run's, and data
    files no run recorded are each named in a warning.

    Raises
    ------
    OutputError
        Another geogrid run is writing into the folder.

    Parameters
    ----------
    folder : str or path-like
        A results folder.

    Returns
    -------
    list of str
        Warnings, empty when the folder is as its manifest says.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> check_results_folder(folder)
    []

    """
    p = Path(folder)
    if not p.is_dir():
        return []
    owner = _lock_owner(p)
    if owner is not None:
        msg = (
            f"geogrid {owner.get('command', '?')} (pid {owner.get('pid')}) is writing into "
            f"{str(folder)!r} right now; wait for it to finish, then run this again"
        )
        raise OutputError(msg)
    remove_stale_temporaries(p)
    warnings = _manifest_warnings(p)
    for w in warnings:
        log.warning("%s", w)
    return warnings


def _manifest_warnings(p: Path) -> list[str]:
    manifest = read_manifest(p)
    if manifest is None:
        if (p / MANIFEST).exists():
            return [f"{p / MANIFEST} is not a geogrid manifest; its files cannot be checked"]
        log.info("%s has no %s; its files cannot be checked against a run", p, MANIFEST)
        return []
    out: list[str] = []
    outputs = manifest.get("outputs") or {}
    earlier = manifest.get("earlier_outputs") or {}
    missing = [n for n in outputs if not (p / n).is_file()]
    changed = [
        n
        for n, rec in {**earlier, **outputs}.items()
        if (p / n).is_file() and file_sha256(p / n) != rec.get("sha256")
    ]
    present_earlier = [n for n in earlier if (p / n).is_file() and n not in changed]
    unknown = sorted(
        q.name
        for q in p.iterdir()
        if q.is_file()
        and q.suffix.lower() in _DATA_SUFFIXES
        and q.name not in outputs
        and q.name not in earlier
        and not is_temporary(q.name)
    )
    cmd = manifest.get("command", "?")
    if missing:
        out.append(f"{p}: {', '.join(missing)} listed in {MANIFEST} but missing")
    if changed:
        out.append(
            f"{p}: {', '.join(changed)} changed since geogrid wrote them (edited by hand, or "
            "written by another run); results may not match each other"
        )
    if present_earlier:
        runs = sorted({str(earlier[n].get("command", "?")) for n in present_earlier})
        out.append(
            f"{p} mixes two runs: {', '.join(present_earlier)} come from an earlier "
            f"geogrid {'/'.join(runs)}, the rest from geogrid {cmd}; rerun into an empty folder "
            "for results that belong together"
        )
    if unknown:
        out.append(
            f"{p}: {', '.join(unknown)} not written by the run recorded in {MANIFEST} "
            f"(geogrid {cmd}); a mix of runs?"
        )
    return out
