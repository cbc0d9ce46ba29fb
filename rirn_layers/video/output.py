"""Where a deblurred video goes: never over anything the user did not ask us to replace.

:func:`plan_output` decides, before a single frame is read, whether ``target`` may be
written, and reserves a temporary sibling to write into; :meth:`OutputPlan.commit` moves it
into place once every frame succeeded, :meth:`OutputPlan.abort` removes it on any failure
(an error, Ctrl-C, SIGTERM turned into an exception by the caller). The rules:

- the output is never the input, never inside an input folder, never a folder that holds
  the input;
- an existing output (other than an empty folder for a folder output) is refused unless
  ``overwrite=True``; even then only a file is
  replaced by a file, and a folder only if it is a previous output of ours (it holds our
  manifest, :data:`MANIFEST`, and no file that the manifest does not list);
- a folder input makes a folder output and a video input a video file (a suffix such as
  ``.mp4``); anything else is refused with one line;
- what we create gets the permissions of the user's umask (no owner-only temp files).
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Literal

from rirn_layers._checks import check_bool

__all__ = ["MANIFEST", "OutputPlan", "plan_output"]

#: The file a folder output of ours holds: the names of the frames we wrote.
MANIFEST = ".rirn-deblur.json"
Kind = Literal["folder", "file"]


def _describe(path: Path) -> str:
    if path.is_dir():
        count = sum(1 for _ in path.iterdir())
        return f"a folder with {count} entr{'y' if count == 1 else 'ies'}"
    return f"a file of {path.stat().st_size} bytes"


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _foreign_files(folder: Path) -> list[str]:
    """Entries of ``folder`` that our manifest does not list (all of them without one)."""
    try:
        listed = set(json.loads((folder / MANIFEST).read_text())["files"])
    except (OSError, ValueError, KeyError, TypeError):
        listed = set()
    return sorted(p.name for p in folder.iterdir() if p.name != MANIFEST and p.name not in listed)


def _check_replaceable(target: Path, kind: Kind, overwrite: bool) -> None:
    if not overwrite:
        raise ValueError(
            f"output {target} exists ({_describe(target)}); pass --overwrite (overwrite=True) "
            "to replace it, or choose another output"
        )
    if kind == "file" and not target.is_file():
        raise ValueError(f"output {target} is {_describe(target)}, not a video file; refusing "
                         "to replace it with one")
    if kind == "folder":
        if not target.is_dir():
            raise ValueError(f"output {target} is {_describe(target)}, not a folder; refusing "
                             "to replace it with a folder of frames")
        foreign = _foreign_files(target)
        if foreign:
            shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise ValueError(
                f"output folder {target} holds files rirn-layers did not write ({shown}); "
                "refusing to replace it even with --overwrite"
            )


def _reserve(target: Path, kind: Kind) -> Path:
    """A new temporary sibling of ``target`` (same suffix for files, so its format shows)."""
    token = secrets.token_hex(4)
    if kind == "folder":
        temp = target.with_name(f".{target.name}.{token}.tmp")
        temp.mkdir(mode=0o777)  # the umask applies
        return temp
    return target.with_name(f".{target.stem}.{token}.tmp{target.suffix}")


@dataclasses.dataclass
class OutputPlan:
    """A checked output: write into :attr:`temp`, then :meth:`commit` or :meth:`abort`."""

    target: Path
    kind: Kind
    temp: Path
    replaces: bool  # an output of ours is there and will be replaced

    def commit(self, names: list[str] | None = None) -> Path:
        """Move the finished :attr:`temp` into place; ``names``: the frames of a folder."""
        if self.kind == "folder":
            manifest = {"files": sorted(names or []), "written_by": "rirn-layers"}
            (self.temp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        old = None
        if self.target.exists() or self.target.is_symlink():
            old = self.target.with_name(f".{self.target.name}.{secrets.token_hex(4)}.old")
            os.replace(self.target, old)  # the new output lands before the old one goes
        os.replace(self.temp, self.target)
        if old is not None:
            shutil.rmtree(old) if old.is_dir() else old.unlink()
        return self.target

    def abort(self) -> None:
        """Remove :attr:`temp` and anything in it (never the target)."""
        if self.temp.is_dir():
            shutil.rmtree(self.temp, ignore_errors=True)
        else:
            self.temp.unlink(missing_ok=True)


def plan_output(
    target: str | os.PathLike, *, source: str | os.PathLike, overwrite: bool = False
) -> OutputPlan:
    """Check that ``target`` may receive the deblurred ``source`` and reserve a temporary.

    Args:
        target: the output: a folder for a folder of frames, a video file (its suffix
            names the container) for a video.
        source: the input, a folder of frames or a video file (must exist).
        overwrite: replace an existing output (a file, or a folder of ours only).

    Raises:
        FileNotFoundError: ``source`` does not exist.
        ValueError: one line naming what is wrong (see the module docstring).
    """
    source_path, target_path = Path(source), Path(target)
    if not source_path.exists():
        raise FileNotFoundError(f"input {source_path} does not exist")
    check_bool("plan_output", "overwrite", overwrite)
    src, dst = source_path.resolve(), target_path.resolve()
    if dst == src:
        raise ValueError(f"the output {target_path} is the input; choose another output")
    if source_path.is_dir() and _inside(dst, src):
        raise ValueError(f"the output {target_path} is inside the input folder {source_path}; "
                         "choose an output outside it")
    if _inside(src, dst):
        raise ValueError(f"the output {target_path} holds the input {source_path}; choose "
                         "another output")
    kind: Kind = "folder" if source_path.is_dir() else "file"
    if kind == "folder" and target_path.suffix and not target_path.is_dir():
        raise ValueError(f"the input {source_path} is a folder of frames, so the output is a "
                         f"folder too; {target_path} looks like a file: give a folder path")
    if kind == "file" and not target_path.suffix:
        raise ValueError(f"the input {source_path} is a video, so the output is a video file; "
                         f"give {target_path} a container suffix such as .mp4, .mkv or .webm")
    exists = target_path.exists() or target_path.is_symlink()
    empty_folder = kind == "folder" and target_path.is_dir() and not any(target_path.iterdir())
    if exists and not empty_folder:
        _check_replaceable(target_path, kind, overwrite)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    return OutputPlan(target_path, kind, _reserve(target_path, kind), exists)
