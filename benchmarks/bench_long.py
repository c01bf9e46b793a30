#!/usr/bin/env python
"""Time and peak memory of every method on long prompts (1k to 8k tokens + 4 forced tokens), batch 1, 1 thread.

Methods: ``saliency``, ``input_x_gradient``, ``integrated_gradients`` (``--n-steps``, 4 by default), ``attnlrp``,
``cp_lrp``, ``attention``, ``value_zeroing`` and ``occlusion``. Each (method, prompt length) runs in a fresh
subprocess that loads the model, warms it up on a 2-token prompt, builds a prompt of exactly that many tokens
(random single-token words) and its continuation by ``--gen`` more words, and times one ``model.attribute(prompt,
full_text)`` call (the continuation is forced, as ``generated_texts``). ``peak`` is the resident set's high-water mark
of that subprocess alone (model, warm-up and attribution: ``VmHWM`` read by the worker when it ends, or by this
script when it kills it; ``ru_maxrss`` where there is no ``/proc``); ``own`` is ``peak`` minus the ``peak`` of an
idle run (load, warm-up, no attribution) on the same interpreter, measured first. ``x saliency`` is
the time and peak ratio to saliency at the same length in the same run. A run over ``--timeout`` seconds is killed
(its peak up to then is kept, marked ``>``).

Occlusion and value zeroing are quadratic by nature (``L`` forwards of ``L`` tokens): by default they run only up to
``--quadratic-max-length`` tokens (1024) and are listed as skipped above it; ``--quadratic-max-length 0`` runs them
at every length.

The model is the Llama-shaped random model (8 layers, hidden 256, 8 heads, 4 KV heads, 8,192 positions, GPT-2
tokenizer) written by ``scripts/build_long_benchmark_model.py`` to ``benchmarks/models/llama-long-random/``.

Side by side with inseq 0.7.1 (``--inseq-python``): install it once in a separate environment, then pass its
interpreter; the same worker runs there on the same model and texts, without this checkout on its path (0.7.1 has
no ``attnlrp``/``cp_lrp``: shown as ``-``)::

    python -m venv /tmp/venv-inseq071 && /tmp/venv-inseq071/bin/pip install torch==2.13.0 inseq==0.7.1

``--write-docs docs/long_inputs.md`` replaces the table between the ``<!-- bench_long:start -->`` and
``<!-- bench_long:end -->`` markers of that page with this run's (``--from-json`` renders a saved run instead of
measuring again).

Example:
    .. code-block:: bash

        .venv/bin/python scripts/build_long_benchmark_model.py
        OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_long.py --json /tmp/long.json \\
            --inseq-python /tmp/venv-inseq071/bin/python --write-docs docs/long_inputs.md
        .venv/bin/python benchmarks/bench_long.py --lengths 256,512 --methods saliency,attention --timeout 300
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
MODEL = ROOT / "models" / "llama-long-random"
METHODS = (
    "saliency",
    "input_x_gradient",
    "integrated_gradients",
    "attnlrp",
    "cp_lrp",
    "attention",
    "value_zeroing",
    "occlusion",
)
#: Methods running ``L`` forwards of ``L`` tokens: limited to ``--quadratic-max-length`` unless asked.
QUADRATIC = frozenset({"occlusion", "value_zeroing"})
#: Methods inseq 0.7.1 does not have.
NOT_IN_071 = frozenset({"attnlrp", "cp_lrp"})
DEFAULT_LENGTHS = (1024, 2048, 4096, 8192)
IDLE = "idle"


def markers(section: str = "bench_long") -> tuple[str, str]:
    """The start and end markers of a table of the docs page (:data:`MARKERS` for the default section).

    Example:
        >>> markers("bench_long_released")
        ('<!-- bench_long_released:start -->', '<!-- bench_long_released:end -->')
    """
    return f"<!-- {section}:start -->", f"<!-- {section}:end -->"


#: The markers of the docs page's main table.
MARKERS = markers()


def parse_list(text: str, valid: tuple[str, ...] | None = None, name: str = "--methods") -> list[str]:
    """Split a comma- or space-separated option into items, checking them against ``valid`` when given.

    Example:
        >>> parse_list("saliency, attention", METHODS)
        ['saliency', 'attention']
    """
    items = [item for item in text.replace(",", " ").split() if item]
    bad = [item for item in items if valid is not None and item not in valid]
    if bad:
        raise SystemExit(f"{name}: unknown {bad}; valid: {', '.join(valid or ())}")
    return items


# --------------------------------------------------------------------------------------------------- worker side


def worker(method: str, length: int, gen: int, model_path: str, threads: int, n_steps: int, budgets: str) -> dict:
    """One measurement, in its own process, on whichever ``inseq`` this interpreter imports (this checkout or 0.7.1).

    Loads the model for ``method``, warms it up on a 2-token prompt, then times one attribution of ``gen`` forced
    tokens after a ``length``-token prompt. ``method="idle"`` loads and warms up (with saliency) but attributes
    nothing: its peak is the baseline subtracted from the others. Only API shared by inseq 0.7.1 and this checkout
    is used (``load_model``, ``attribute``); ``budgets`` (``name=value,...``) applies to this checkout only. The
    result holds the process's own peak resident set (``VmHWM``) at the end.
    """
    import contextlib
    import warnings

    import torch
    from bench_gradient import parse_budgets, random_texts

    import inseq

    torch.set_num_threads(threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = inseq.load_model(model_path, "saliency" if method == IDLE else method)
    kwargs: dict[str, Any] = {"show_progress": False}
    if method == "integrated_gradients":
        kwargs["n_steps"] = n_steps
    scope: Any = contextlib.nullcontext()
    if budgets:
        from inseq.utils.budgets import memory_budgets

        scope = memory_budgets(**parse_budgets(budgets))
    prompt, full = random_texts(model.tokenizer, 2, 2, seed=1)
    model.attribute(prompt, full, **kwargs)
    prompt, full = random_texts(model.tokenizer, length, gen, seed=10)
    elapsed = 0.0
    if method != IDLE:
        with scope, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            model.attribute(prompt, full, **kwargs)
            elapsed = time.perf_counter() - start
    version = getattr(inseq, "__version__", None)
    if version is None:
        from importlib.metadata import version as dist_version

        version = dist_version("inseq")
    peak = _hwm_mb() or _maxrss_mb(resource.getrusage(resource.RUSAGE_SELF))
    inseq_info = f"{version} {Path(inseq.__file__).parent}"
    return {"time_s": elapsed, "peak_rss_mb": peak, "threads": torch.get_num_threads(), "inseq": inseq_info}


# --------------------------------------------------------------------------------------------------- parent side


def _hwm_mb(pid: int | str = "self") -> float | None:
    """The resident set's high-water mark (``VmHWM``, MB) of a process since its ``exec``; None without ``/proc``."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _maxrss_mb(usage: Any) -> float:
    """``ru_maxrss`` in MB (kilobytes on Linux, bytes on macOS)."""
    return usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 1024)


def _run_child(cmd: list[str], env: dict[str, str], timeout: float) -> tuple[int | None, float, float, str, str]:
    """Run ``cmd`` with a wall-clock ``timeout`` and return its status, peak RSS (MB), wall time and its outputs.

    The status is the exit code (negative: killed by that signal), or ``None`` when the timeout killed it. The peak is
    the child's own high-water mark: its ``VmHWM``, polled while it runs (``/proc``), else its ``ru_maxrss`` from
    ``os.wait4``; the latter is never below the parent's resident set at the fork (Linux carries it over ``exec``),
    a few tens of MB for the benchmark's parent, which imports neither torch nor inseq while measuring.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, start_new_session=True)
        status: int | None = None
        polled: float | None = None
        while True:
            pid, wait_status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status = os.waitstatus_to_exitcode(wait_status)
                break
            hwm = _hwm_mb(proc.pid)
            polled = hwm if polled is None or (hwm is not None and hwm > polled) else polled
            if time.perf_counter() - start > timeout:
                polled = max(polled or 0.0, _hwm_mb(proc.pid) or 0.0) or None
                os.killpg(proc.pid, signal.SIGKILL)
                _, _, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.1)
        proc.returncode = -signal.SIGKILL if status is None else status  # reaped above: Popen must not wait again
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        return status, polled or _maxrss_mb(usage), wall, out.read(), err.read()


def measure(
    python: str, method: str, length: int, args: argparse.Namespace, here: bool, timeout: float | None = None
) -> dict:
    """Run :func:`worker` in a fresh subprocess of ``python`` and return its result with the peak and status.

    ``here``: the interpreter runs this checkout's ``inseq`` (put first on ``PYTHONPATH``); otherwise any inherited
    ``PYTHONPATH`` is dropped so that the interpreter's own installed ``inseq`` runs. ``timeout`` (default
    ``--timeout``) covers the whole process: start, imports, loading, warm-up and attribution.
    """
    timeout = args.timeout if timeout is None else timeout
    cmd = [python, str(Path(__file__).resolve()), "--worker", method, "--lengths", str(length), "--gen", str(args.gen)]
    cmd += ["--model", str(args.model), "--threads", str(args.threads), "--n-steps", str(args.n_steps)]
    cmd += ["--budgets", args.budgets if here else ""]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT.parent), str(ROOT)] if here else [str(ROOT)])
    status, peak, wall, out, err = _run_child(cmd, env, timeout)
    result: dict[str, Any] = {"peak_rss_mb": peak, "wall_s": wall}
    if status is None:
        result.update(status="timeout", time_s=timeout)
    elif status != 0:
        lines = [line for line in err.strip().splitlines() if line.strip()]
        reason = f"killed by signal {-status} (out of memory?)" if status < 0 else (lines or ["?"])[-1][:200]
        result.update(status="failed", error=reason)
    else:
        result.update(status="ok", **json.loads(out.strip().splitlines()[-1]))
    return result


def _fmt_mb(mb: float) -> str:
    """``812 MB`` below a gigabyte, ``1.10 GB`` above.

    Example:
        >>> _fmt_mb(812.4), _fmt_mb(1126.4)
        ('812 MB', '1.10 GB')
    """
    return f"{mb:.0f} MB" if mb < 1024 else f"{mb / 1024:.2f} GB"


def cell(res: dict | None) -> str:
    """A measurement as ``26.1 s, 1.10 GB`` (``>`` when it timed out), or why there is none.

    Example:
        >>> cell({"status": "ok", "time_s": 26.14, "peak_rss_mb": 1126.4})
        '26.1 s, 1.10 GB'
        >>> cell({"status": "timeout", "time_s": 600, "peak_rss_mb": 2048.0})
        '>600 s, >2.00 GB'
    """
    if res is None:
        return "-"
    status = res["status"]
    if status == "ok":
        return f"{res['time_s']:.1f} s, {_fmt_mb(res['peak_rss_mb'])}"
    if status == "timeout":
        return f">{res['time_s']:.0f} s, >{_fmt_mb(res['peak_rss_mb'])}"
    if status == "skipped":
        return f"skipped ({res['reason']})"
    return f"failed ({res.get('error', '?')})"


def _idle(res: dict) -> str:
    """The idle run's peak (``521 MB``), or why it has none."""
    return _fmt_mb(res["peak_rss_mb"]) if res["status"] == "ok" else cell(res)


def ratio(res: dict | None, sal: dict | None) -> str:
    """Time and peak ratios of ``res`` to saliency's measurement at the same length, as ``3.4x, 1.1x``.

    Example:
        >>> ratio({"status": "ok", "time_s": 6.0, "peak_rss_mb": 900}, {"status": "ok", "time_s": 2.0, "peak_rss_mb": 600})
        '3.00x, 1.50x'
    """
    if not res or not sal or res["status"] != "ok" or sal["status"] != "ok":
        return ""
    return f"{res['time_s'] / sal['time_s']:.2f}x, {res['peak_rss_mb'] / sal['peak_rss_mb']:.2f}x"


def own(res: dict | None, idle: dict | None) -> str:
    """The measurement's peak minus the idle run's peak, in MB (empty when either is missing).

    Example:
        >>> own({"status": "ok", "peak_rss_mb": 900.0}, {"status": "ok", "peak_rss_mb": 650.0})
        '250'
    """
    if not res or not idle or res["status"] not in ("ok", "timeout") or idle["status"] != "ok":
        return ""
    return f"{res['peak_rss_mb'] - idle['peak_rss_mb']:.0f}"


def _skip_reason(
    method: str, length: int, args: argparse.Namespace, stopped: dict[str, int], here: bool = True
) -> str | None:
    """Why (method, length) is not run on an interpreter: quadratic above the limit, inseq 0.7.1 above its limit,
    or it already ran out."""
    if method in QUADRATIC and args.quadratic_max_length and length > args.quadratic_max_length:
        return f"quadratic, > {args.quadratic_max_length} tokens"
    if not here and args.inseq_max_length and length > args.inseq_max_length:
        return f"> {args.inseq_max_length} tokens for inseq 0.7.1"
    if method in stopped:
        return f"ran out at {stopped[method]} tokens"
    return None


def run_all(args: argparse.Namespace, methods: list[str], lengths: list[int]) -> dict:
    """Measure the idle baselines, then every (length, method) on this checkout and on ``--inseq-python``.

    Rows are printed as they come. A method that timed out or was killed at a length is not run at longer ones on
    the same interpreter.
    """
    pythons = {"here": sys.executable} | ({"0.7.1": args.inseq_python} if args.inseq_python else {})
    results: dict[str, Any] = {"meta": _meta(args), "idle": {}, "rows": []}
    for name, python in pythons.items():
        results["idle"][name] = measure(python, IDLE, min(lengths), args, name == "here", max(args.timeout, 600))
        idle = results["idle"][name]
        print(f"idle load ({name}): {_idle(idle)}; inseq {idle.get('inseq', '?')}", flush=True)
    print(_console_header(), flush=True)
    stopped: dict[str, dict[str, int]] = {name: {} for name in pythons}
    for length in lengths:
        for method in methods:
            row: dict[str, Any] = {"method": method, "length": length}
            for name, python in pythons.items():
                if name != "here" and method in NOT_IN_071:
                    row[name] = None
                    continue
                reason = _skip_reason(method, length, args, stopped[name], here=name == "here")
                if reason:
                    row[name] = {"status": "skipped", "reason": reason}
                    continue
                row[name] = res = measure(python, method, length, args, here=name == "here")
                if res["status"] == "timeout" or "signal" in res.get("error", ""):
                    stopped[name][method] = length
            results["rows"].append(row)
            print(_console_row(row, results), flush=True)
    return results


def _meta(args: argparse.Namespace) -> dict[str, Any]:
    """What the run was: date, command, machine, model and settings."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["benchmarks/bench_long.py", *sys.argv[1:]]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "model": str(args.model),
        "threads": args.threads,
        "n_steps": args.n_steps,
        "gen": args.gen,
        "timeout_s": args.timeout,
    }


def _saliency(results: dict, length: int, name: str) -> dict | None:
    """Saliency's measurement at ``length`` on interpreter ``name``, if it ran."""
    for row in results["rows"]:
        if row["method"] == "saliency" and row["length"] == length:
            return row.get(name)
    return None


COLUMNS = (
    "method",
    "tokens",
    "this checkout",
    "own MB",
    "x saliency",
    "inseq 0.7.1",
    "0.7.1 own MB",
    "0.7.1 x saliency",
)


def _cells(row: dict, results: dict) -> list[str]:
    """The table cells of one row (see :data:`COLUMNS`)."""
    cells = [row["method"], f"{row['length']}+{results['meta']['gen']}"]
    for name in ("here", "0.7.1"):
        res = row.get(name)
        if name != "here" and "0.7.1" not in results["idle"]:
            cells += ["", "", ""]
            continue
        sal = _saliency(results, row["length"], name)
        cells += [
            cell(res),
            own(res, results["idle"].get(name)),
            ratio(res, sal) if row["method"] != "saliency" else "",
        ]
    return cells


def _console_header() -> str:
    """The header line of the printed table."""
    widths = (22, 10, 30, 8, 14, 30, 13, 16)
    return "".join(f"{c:<{w}}" for c, w in zip(COLUMNS, widths, strict=True))


def _console_row(row: dict, results: dict) -> str:
    """One printed table line."""
    widths = (22, 10, 30, 8, 14, 30, 13, 16)
    return "".join(f"{c:<{w}}" for c, w in zip(_cells(row, results), widths, strict=True)).rstrip()


def render_markdown(results: dict) -> str:
    """The results as the Markdown that goes between the docs page's markers: settings, table and notes.

    Example:
        >>> meta = {"date": "d", "command": "c", "machine": "m", "threads": 1, "n_steps": 4, "gen": 4, "timeout_s": 9}
        >>> res = {"status": "ok", "time_s": 2.0, "peak_rss_mb": 700.0}
        >>> text = render_markdown({"meta": meta, "idle": {"here": res}, "rows": [{"method": "saliency", "length": 256, "here": res}]})
        >>> text.splitlines()[-1]
        '| saliency | 256+4 | 2.0 s, 700 MB | 0 |  |'
    """
    meta = results["meta"]
    with_071 = "0.7.1" in results["idle"]
    columns = list(COLUMNS if with_071 else COLUMNS[:5])
    lines = [
        f"Measured {meta['date']} with `{meta['command']}` ({meta['machine']}; {meta['threads']} thread(s), batch 1, "
        f"{meta['gen']} forced tokens, integrated gradients with {meta['n_steps']} steps, timeout "
        f"{meta['timeout_s']:.0f} s). Each cell: time of the attribution, peak RSS of its process; own MB: peak minus "
        f"the idle load's ({', '.join(f'{k}: {_idle(v)}' for k, v in results['idle'].items())}); x saliency: time and "
        "peak ratios to saliency at the same length.",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in results["rows"]:
        cells = [c.replace("|", "\\|") for c in _cells(row, results)[: len(columns)]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_docs(path: Path, block: str, section: str = "bench_long") -> None:
    """Replace what lies between the two markers of ``section`` (:func:`markers`) of the page at ``path`` with
    ``block``.

    Raises:
        SystemExit: If the page lacks the markers (in order).
    """
    text = path.read_text(encoding="utf-8")
    first, last = markers(section)
    start, end = text.find(first), text.find(last)
    if start < 0 or end < start:
        raise SystemExit(f"--write-docs {str(path)!r}: the page needs the markers {first!r} then {last!r}")
    sys.path.insert(0, str(ROOT.parent))
    from inseq.data.files import atomic_write_text

    atomic_write_text(path, text[: start + len(first)] + "\n" + block + "\n" + text[end:])
    print(f"table written to {path}")


def _parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lengths", default=",".join(map(str, DEFAULT_LENGTHS)), help="prompt lengths, in tokens")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated method ids")
    parser.add_argument("--gen", type=int, default=4, help="forced tokens after the prompt")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per measurement before it is killed")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (and OMP_NUM_THREADS)")
    parser.add_argument("--n-steps", type=int, default=4, help="integrated gradients steps")
    parser.add_argument(
        "--quadratic-max-length", type=int, default=1024, help="longest prompt for occlusion/value_zeroing (0: all)"
    )
    parser.add_argument("--model", type=Path, default=MODEL, help="model folder")
    parser.add_argument("--inseq-python", default=None, help="interpreter with inseq 0.7.1 installed, side by side")
    parser.add_argument(
        "--inseq-max-length",
        type=int,
        default=4096,
        help="longest prompt run with inseq 0.7.1 (0: all); its attention needs about 12 GB at 4k tokens, 4x at 8k",
    )
    parser.add_argument("--budgets", default="", help="this checkout's memory budgets, e.g. backward_tokens=4096")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.add_argument("--write-docs", type=Path, default=None, help="fill the table between the page's markers")
    parser.add_argument(
        "--docs-section", default="bench_long", help="the page's markers to write between: <!-- NAME:start/end -->"
    )
    parser.add_argument("--from-json", type=Path, default=None, help="render a saved --json run instead of measuring")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: measure (or load), print the table, and write the JSON and docs when asked."""
    args = _parser().parse_args(argv)
    if args.worker:
        lengths = [int(v) for v in parse_list(args.lengths, name="--lengths")]
        result = worker(args.worker, lengths[0], args.gen, str(args.model), args.threads, args.n_steps, args.budgets)
        print(json.dumps(result))
        return
    if args.from_json:
        results = json.loads(args.from_json.read_text(encoding="utf-8"))
    else:
        if not (args.model / "config.json").exists():
            raise SystemExit(
                f"--model {str(args.model)!r} has no config.json: run scripts/build_long_benchmark_model.py"
            )
        methods = parse_list(args.methods, METHODS)
        lengths = [int(v) for v in parse_list(args.lengths, name="--lengths")]
        print(
            f"model: {args.model}  threads: {args.threads}  forced tokens: {args.gen}  timeout: {args.timeout:.0f} s"
        )
        results = run_all(args, methods, lengths)
    if args.json:
        sys.path.insert(0, str(ROOT.parent))
        from inseq.data.files import atomic_write_text

        atomic_write_text(args.json, json.dumps(results, indent=2))
    block = render_markdown(results)
    print("\n" + block)
    if args.write_docs:
        write_docs(args.write_docs, block, args.docs_section)


if __name__ == "__main__":
    main()
