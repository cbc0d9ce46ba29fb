"""Shared helpers of the benchmark scripts: interleaved timing, machine description, output.

Timing on a shared CPU is noisy, so every benchmark measures the variants it compares side
by side in one process: warm-up calls first, then rounds in which each variant runs once,
in a rotated order, and the median of each variant's rounds is reported. Ratios of those
medians are what the docs quote; absolute times only describe the machine they came from.

Each benchmark prints its tables, writes ``<name>.md`` (the tables and the machine) and
``<name>.png`` into ``--out`` (default ``docs/perf``), and with ``--update-docs`` replaces
its section of ``docs/performance.md`` (between ``<!-- name:begin -->`` and
``<!-- name:end -->``) with the same tables, so every number on that page comes from a run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "performance.md"


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark shares."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "perf",
                   help="folder for <name>.md and <name>.png (default docs/perf)")
    p.add_argument("--update-docs", action="store_true",
                   help="replace this benchmark's section of docs/performance.md")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="cpu or cuda (default: cuda when available)")
    p.add_argument("--repeats", type=int, default=7, help="timed rounds per variant")
    p.add_argument("--quick", action="store_true",
                   help="fewer rounds and sizes: a smoke run, not numbers to quote")
    return p


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_features() -> list[str]:
    """The vector/matrix extensions that decide CPU conv speed (AVX2, AVX-512, AMX)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    wanted = ["avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"]
    return [f for f in wanted if f in flags]


def machine(device: str) -> str:
    """One line naming the machine the numbers come from."""
    if device.startswith("cuda"):
        name = torch.cuda.get_device_name(torch.device(device))
        return (f"{name}, CUDA {torch.version.cuda}, torch {torch.__version__}, "
                f"cudnn {torch.backends.cudnn.version()}")
    cores = os.cpu_count()
    return (f"{cpu_name()} ({cores} cores, {'/'.join(cpu_features()) or 'no AVX2'}), "
            f"torch {torch.__version__}, {torch.get_num_threads()} threads")


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def interleaved(
    fns: dict[str, Callable[[], object]],
    *,
    repeats: int = 7,
    warmup: int = 2,
    device: str = "cpu",
) -> dict[str, float]:
    """Median seconds per call of each function, timed in interleaved, rotated rounds."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    sync(device)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            sync(device)
            start = time.perf_counter()
            fns[name]()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A markdown table; floats are printed as given (format them before)."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def publish(
    name: str,
    body: str,
    args: argparse.Namespace,
    figure: object | None = None,
    *,
    summary: str | None = None,
    head: str | None = None,
) -> None:
    """Print ``body``; write ``<out>/<name>.md`` (and the figure as ``.png``); update the page.

    With ``summary``, the page section gets the summary and a link to the full tables of
    ``<out>/<name>.md`` instead of the tables themselves. ``head`` replaces the machine line
    (when re-rendering saved results, whose machine is not this one).
    """
    head = head or f"Machine: {machine(args.device)}."
    text = f"{head}\n\n{body.strip()}\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.md").write_text(text)
    if figure is not None:  # tagged with the machine, like the tables
        figure.suptitle(head.removeprefix("Machine: "), fontsize=8, y=1.01)  # type: ignore[attr-defined]
        figure.savefig(args.out / f"{name}.png", dpi=110, bbox_inches="tight")  # type: ignore[attr-defined]
        print(f"wrote {args.out / f'{name}.png'}")
    if args.update_docs:
        page = text if summary is None else (
            f"{head}\n\n{summary.strip()}\n\nAll rows: [perf/{name}.md](perf/{name}.md).\n"
        )
        update_page(name, page)


def read_table(text: str, first_header: str) -> list[dict[str, str]]:
    """The rows of the markdown table of ``text`` whose first header cell is ``first_header``."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_header:
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                rows.append(dict(zip(cells, (c.strip() for c in row.strip().strip("|")
                                             .split("|")), strict=True)))
            return rows
    raise SystemExit(f"no table with a first column {first_header!r}")


def update_page(name: str, text: str, page: Path = PAGE) -> None:
    """Replace the text between ``<!-- name:begin -->`` and ``<!-- name:end -->`` of ``page``."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    doc = page.read_text()
    if begin not in doc or end not in doc:
        raise SystemExit(f"{page} has no {begin} ... {end} section to update")
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    page.write_text(f"{head}{begin}\n{text.strip()}\n{end}{tail}")
    print(f"updated the {name} section of {page}")


def stepper(model: torch.nn.Module, frame: torch.Tensor) -> Callable[[], object]:
    """A call that feeds ``frame`` to ``model.step`` once, carrying the state (steady state).

    The model is primed with ``past + future + 1`` frames first, so every timed call runs
    the full step and returns an output, as every frame of a long video does.
    """
    state = None
    with torch.inference_mode():
        for _ in range(model.past + model.future + 1):  # type: ignore[operator]
            _, state = model.step(frame, state)  # type: ignore[operator]

    def call() -> object:
        nonlocal state
        with torch.inference_mode():
            out, state = model.step(frame, state)  # type: ignore[operator]
        return out

    return call
