"""``inseq attribute-dataset``: attribute every row of a dataset, resumably.

Rows are read from a local file (csv, tsv, json, jsonl, parquet) or, when the ``datasets`` library is installed,
from anything ``datasets.load_dataset`` loads. They are attributed in batches under a rich progress bar. With
``--output_dir`` (new compared to inseq 0.7), each attributed row is written as ``rows/row_<index>.json`` as soon as
its batch is done, and ``manifest.json`` (rewritten atomically after every batch) records the rows done and skipped:
an interrupted run continues with ``--resume``, and a finished run is not redone. Bad rows (empty text, too long for
the model, failing attribution) are reported and skipped. ``--save_path`` writes all rows merged in one JSON file at
the end; without ``--output_dir`` the row files go to ``<save_path>.parts/``.

Example:
    .. code-block:: bash

        inseq attribute-dataset -m gpt2 -d data.jsonl -in prompt --output_dir runs/gpt2 \\
            --generation_kwargs '{"max_new_tokens": 5}' --hide
        inseq attribute-dataset -m gpt2 -d data.jsonl -in prompt --output_dir runs/gpt2 --resume --hide
"""

from __future__ import annotations

import copy
import csv
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .attribute import AttributeExtendedArgs, aggregate_attribution_scores, attribute_with_model
from .base import BaseCLICommand, CommandError, load_model_or_fail, one_line, setup_logging
from .cli_args import cli_arg
from .validation import as_records, bad_row_reason, check_cli_options, clean_run_temps, parse_jsonl, read_manifest

if TYPE_CHECKING:
    from ..data import FeatureAttributionOutput
    from ..models import AttributionModel

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
ROWS_DIR = "rows"
LOCAL_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".parquet": "parquet"}


@dataclass
class LoadDatasetArgs:
    """Dataset options."""

    dataset_name: str = cli_arg(
        default=None,
        aliases=["-d", "--dataset"],
        required=True,
        help="Local file (csv, tsv, json, jsonl, parquet) or dataset identifier for datasets.load_dataset.",
    )
    input_text_field: str = cli_arg(
        default=None, aliases=["-in", "--input"], required=True, help="Column containing the input texts."
    )
    generated_text_field: str | None = cli_arg(
        default=None, aliases=["-gen", "--generated"], help="Column containing the forced generated texts."
    )
    dataset_config: str | None = cli_arg(default=None, aliases=["--config"], help="Dataset configuration name.")
    dataset_dir: str | None = cli_arg(default=None, aliases=["--dir"], help="Dataset data directory.")
    dataset_files: list[str] | None = cli_arg(default=None, aliases=["--files"], help="Dataset data files.")
    dataset_split: str | None = cli_arg(default="train", aliases=["--split"], help="Dataset split to attribute.")
    dataset_revision: str | None = cli_arg(default=None, aliases=["--revision"], help="Dataset revision.")
    dataset_auth_token: str | None = cli_arg(default=None, aliases=["--auth"], help="Hub token for the dataset.")
    dataset_kwargs: dict = cli_arg(default_factory=dict, help="JSON of extra keyword arguments for load_dataset.")


@dataclass
class DatasetRunArgs:
    """Run options (new compared to inseq 0.7)."""

    output_dir: str | None = cli_arg(
        default=None,
        help="(New vs inseq 0.7) folder receiving one JSON per attributed row and a manifest used to resume.",
    )
    resume: bool = cli_arg(default=False, help="Continue the run recorded in --output_dir, skipping the rows done.")
    overwrite: bool = cli_arg(default=False, help="Discard a previous run found in --output_dir and start again.")
    max_rows: int | None = cli_arg(
        default=None, help="Attribute at most this many new rows in this invocation (the run stays resumable)."
    )


# ---------------------------------------------------------------------------------------------------------- loading


def _read_local(path: Path) -> list[dict[str, Any]]:
    kind = LOCAL_EXTENSIONS.get(path.suffix.lower())
    if kind in ("csv", "tsv"):
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f, delimiter="\t" if kind == "tsv" else ","))
    if kind == "jsonl":
        with path.open(encoding="utf-8") as f:
            return parse_jsonl(f, str(path))
    if kind == "json":
        text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError:  # JSON lines saved with a .json extension
            return parse_jsonl(text.splitlines(), str(path))
        if isinstance(data, dict):
            lists = {k: v for k, v in data.items() if isinstance(v, list)}
            if len(lists) == 1 and all(isinstance(r, dict) for r in next(iter(lists.values()))):
                return next(iter(lists.values()))  # {"data": [{...}, ...]}
            if lists and len(lists) == len(data):  # columns: {"col": [...], ...}
                n = len(next(iter(lists.values())))
                return [{k: v[i] for k, v in lists.items()} for i in range(n)]
            raise CommandError(f"{path}: expected a list of records or a mapping of columns in the JSON file.")
        return as_records(data, str(path))
    if kind == "parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            try:
                import pandas as pd
            except ImportError as err:
                raise CommandError("reading parquet files needs pyarrow: pip install pyarrow") from err
            return pd.read_parquet(path).to_dict("records")
        return pq.read_table(path).to_pylist()
    raise CommandError(f"{path}: unsupported file extension {path.suffix!r}; use one of {sorted(LOCAL_EXTENSIONS)}.")


def load_rows(args: LoadDatasetArgs) -> list[dict[str, Any]]:
    """Load the dataset rows as dictionaries.

    Local files are read directly; other names go through ``datasets.load_dataset`` when it is installed.

    Example:
        >>> load_rows(LoadDatasetArgs(dataset_name="data.csv", input_text_field="text"))  # doctest: +SKIP
        [{'text': 'Hello world'}, ...]
    """
    local = Path(args.dataset_name).expanduser()
    if local.is_file():
        return _read_local(local)
    if args.dataset_name in ("csv", "json", "parquet") and args.dataset_files and len(args.dataset_files) == 1:
        single = Path(args.dataset_files[0])
        if single.is_file():
            return _read_local(single)
    try:
        import datasets
    except ImportError:
        raise CommandError(
            f"{args.dataset_name!r} is not a local file, and loading other datasets needs the `datasets` library "
            "(pip install 'inseq[datasets]')."
        ) from None
    try:
        dataset = datasets.load_dataset(
            args.dataset_name,
            args.dataset_config,
            data_dir=args.dataset_dir,
            data_files=args.dataset_files,
            split=args.dataset_split,
            revision=args.dataset_revision,
            token=args.dataset_auth_token,
            **dict(args.dataset_kwargs or {}),
        )
    except Exception as err:  # noqa: BLE001
        raise CommandError(f"could not load the dataset {args.dataset_name!r}: {one_line(err)}") from err
    return [dict(row) for row in dataset]


# ---------------------------------------------------------------------------------------------------------- manifest


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` atomically (temporary file in the same folder, then ``os.replace``)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def run_signature(args: AttributeExtendedArgs, data: LoadDatasetArgs) -> dict[str, Any]:
    """The options that must not change between an interrupted run and its resumption."""
    keys = (
        "model_name_or_path",
        "attribution_method",
        "attributed_fn",
        "step_scores",
        "attribute_target",
        "start_pos",
        "end_pos",
        "generation_kwargs",
        "attribution_kwargs",
        "attribution_aggregators",
        "attribution_selectors",
        "normalize_attributions",
        "rescale_attributions",
        "include_eos_baseline",
    )
    sig = {k: getattr(args, k) for k in keys}
    sig["model_name_or_path"] = str(sig["model_name_or_path"])
    sig.update({k: v for k, v in asdict(data).items() if k not in ("dataset_auth_token",)})
    return json.loads(json.dumps(sig, default=str))


class Manifest:
    """Progress of a dataset run: rows done (with their files) and rows skipped (with the reason)."""

    def __init__(self, folder: Path, signature: dict[str, Any], total_rows: int) -> None:
        self.folder = folder
        self.path = folder / MANIFEST_NAME
        self.signature = signature
        self.total_rows = total_rows
        self.done: dict[int, str] = {}
        self.skipped: dict[int, str] = {}
        self.finished = False

    @classmethod
    def load(cls, folder: Path) -> Manifest | None:
        """Read the manifest of ``folder`` (None when there is none)."""
        path = folder / MANIFEST_NAME
        if not path.exists():
            return None
        data = read_manifest(path)
        manifest = cls(folder, data["signature"], data["total_rows"])
        manifest.done = {int(k): v for k, v in data["done"].items()}
        manifest.skipped = {int(k): v for k, v in data["skipped"].items()}
        manifest.finished = data["finished"]
        return manifest

    def save(self) -> None:
        """Rewrite the manifest atomically."""
        write_json_atomic(
            self.path,
            {
                "signature": self.signature,
                "total_rows": self.total_rows,
                "done": {str(k): v for k, v in sorted(self.done.items())},
                "skipped": {str(k): v for k, v in sorted(self.skipped.items())},
                "finished": self.finished,
                "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
            },
        )


# ---------------------------------------------------------------------------------------------------------- rows


def max_model_positions(model: AttributionModel) -> int | None:
    """The longest sequence the model accepts (None when unknown)."""
    config = model.model.config
    for name in ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(model.tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 1_000_000 else None


def check_row(
    model: AttributionModel, text: Any, generated: Any, max_positions: int | None, max_new_tokens: int
) -> str | None:
    """Why a row cannot be attributed (None when it can)."""
    if not isinstance(text, str) or not text.strip():
        return "empty input text" if isinstance(text, str) or text is None else f"input is not text ({text!r})"
    if generated is not None and (not isinstance(generated, str) or not generated.strip()):
        return "empty generated text"
    if max_positions is None:
        return None
    n_input = len(model.tokenizer(text)["input_ids"])
    n_generated = len(model.tokenizer(generated)["input_ids"]) if generated else None
    if model.is_encoder_decoder:
        total = max(n_input, n_generated if n_generated is not None else max_new_tokens)
    else:
        total = n_generated if n_generated is not None else n_input + max_new_tokens
    if total > max_positions:
        return f"too long for the model: {total} tokens > {max_positions} positions"
    return None


def split_output(out: FeatureAttributionOutput) -> list[FeatureAttributionOutput]:
    """One output per sequence, with ``info`` texts restricted to that sequence."""
    from ..data import FeatureAttributionOutput

    parts = []
    for i, seq in enumerate(out.sequence_attributions):
        info = copy.deepcopy(out.info)
        for key in ("input_texts", "generated_texts"):
            if isinstance(info.get(key), list) and len(info[key]) == len(out.sequence_attributions):
                info[key] = [info[key][i]]
        parts.append(FeatureAttributionOutput(sequence_attributions=[seq], step_attributions=None, info=info))
    return parts


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]Attributing rows"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
    )


def attribute_dataset(
    args: AttributeExtendedArgs, dataset_args: LoadDatasetArgs, run_args: DatasetRunArgs | None = None
) -> dict[str, Any]:
    """Attribute every row of a dataset; see the module docstring for the output folder layout.

    Returns:
        A summary: ``{"total", "done", "skipped" (index -> reason), "attributed_now", "seconds", "output_dir"}``.

    Example:
        >>> attribute_dataset(
        ...     AttributeExtendedArgs(model_name_or_path="gpt2", hide_attributions=True),
        ...     LoadDatasetArgs(dataset_name="data.jsonl", input_text_field="prompt"),
        ...     DatasetRunArgs(output_dir="runs/gpt2"),
        ... )  # doctest: +SKIP
    """
    run_args = run_args or DatasetRunArgs()
    started = time.perf_counter()
    check_cli_options({"batch_size": args.batch_size, "max_rows": run_args.max_rows})
    rows = load_rows(dataset_args)
    if rows and dataset_args.input_text_field not in rows[0]:
        raise CommandError(
            f"the dataset has no column {dataset_args.input_text_field!r} (--input_text_field); "
            f"available columns: {', '.join(map(str, rows[0]))}."
        )
    if dataset_args.generated_text_field and rows and dataset_args.generated_text_field not in rows[0]:
        raise CommandError(
            f"the dataset has no column {dataset_args.generated_text_field!r} (--generated_text_field); "
            f"available columns: {', '.join(map(str, rows[0]))}."
        )
    folder = Path(run_args.output_dir) if run_args.output_dir else None
    if folder is None and args.save_path:
        folder = Path(f"{args.save_path}.parts")
    if run_args.resume and folder is None:
        raise CommandError("--resume needs --output_dir (or --save_path) pointing to the interrupted run.")
    signature = run_signature(args, dataset_args)
    manifest: Manifest | None = None
    if folder is not None:
        previous = Manifest.load(folder)
        if previous is not None and not run_args.overwrite:
            if previous.signature != signature:
                changed = sorted(k for k in signature if previous.signature.get(k) != signature[k])
                raise CommandError(
                    f"{folder} holds a run with other options (changed: {', '.join(changed)}); "
                    "pass --overwrite to discard it or choose another --output_dir."
                )
            if not previous.finished and not run_args.resume:
                raise CommandError(
                    f"{folder} holds an unfinished run ({len(previous.done)}/{previous.total_rows} rows done); "
                    "pass --resume to continue it or --overwrite to start again."
                )
            manifest = previous
        if manifest is None:
            manifest = Manifest(folder, signature, len(rows))
        (folder / ROWS_DIR).mkdir(parents=True, exist_ok=True)
        clean_run_temps(folder)
        manifest.total_rows = len(rows)
        manifest.save()
    done = manifest.done if manifest else {}
    skipped = manifest.skipped if manifest else {}
    pending = [i for i in range(len(rows)) if i not in done and i not in skipped]
    if run_args.max_rows is not None:
        pending = pending[: max(run_args.max_rows, 0)]
    in_memory: dict[int, FeatureAttributionOutput] = {}
    attributed_now = 0
    if pending:
        model = load_model_or_fail(
            args.model_name_or_path, args.attribution_method, args.device, args.model_kwargs, args.tokenizer_kwargs
        )
        max_positions = max_model_positions(model)
        max_new_tokens = int((args.generation_kwargs or {}).get("max_new_tokens", 0) or 0)
        batch_size = max(int(args.batch_size or 1), 1)
        with _progress() as progress:
            task = progress.add_task("rows", total=len(pending), status="")
            for start in range(0, len(pending), batch_size):
                batch = pending[start : start + batch_size]
                good: list[tuple[int, str, str | None]] = []
                for idx in batch:
                    row = rows[idx]
                    text = row.get(dataset_args.input_text_field)
                    gen = row.get(dataset_args.generated_text_field) if dataset_args.generated_text_field else None
                    reason = bad_row_reason(row) or check_row(model, text, gen, max_positions, max_new_tokens)
                    if (
                        reason is None
                        and gen is not None
                        and not model.is_encoder_decoder
                        and not gen.startswith(text)
                    ):
                        gen = f"{text} {gen}"  # decoder-only: forced targets continue the prompt
                        reason = check_row(model, text, gen, max_positions, max_new_tokens)
                    if reason is not None:
                        skipped[idx] = reason
                        progress.console.print(f"[yellow]Skipping row {idx}: {reason}")
                    else:
                        good.append((idx, text, gen))
                results = _attribute_rows(model, good, args, skipped, progress)
                for idx, part in results.items():
                    if args.attribution_aggregators:
                        part = aggregate_attribution_scores(
                            part,
                            args.attribution_selectors,
                            args.attribution_aggregators,
                            args.normalize_attributions,
                            args.rescale_attributions,
                        )
                    if folder is not None:
                        name = f"{ROWS_DIR}/row_{idx:07d}.json"
                        tmp = folder / f"{name}.tmp"
                        part.save(tmp, overwrite=True)
                        os.replace(tmp, folder / name)
                        done[idx] = name
                    else:
                        in_memory[idx] = part
                        done[idx] = ""
                    attributed_now += 1
                if manifest is not None:
                    manifest.save()
                progress.update(task, advance=len(batch), status=f"{len(skipped)} skipped")
    remaining = [i for i in range(len(rows)) if i not in done and i not in skipped]
    if manifest is not None:
        manifest.finished = not remaining
        manifest.save()
    merged = None
    if not remaining and (args.save_path or args.viz_path or not args.hide_attributions) and done:
        merged = _merge(done, folder, in_memory)
    if merged is not None:
        if not args.hide_attributions:
            merged.show(display=True)
        if args.viz_path:
            Path(args.viz_path).parent.mkdir(parents=True, exist_ok=True)
            Path(args.viz_path).write_text(merged.show(display=False, return_html=True) or "", encoding="utf-8")
        if args.save_path:
            Path(args.save_path).parent.mkdir(parents=True, exist_ok=True)
            merged.save(args.save_path, overwrite=True)
    summary = {
        "total": len(rows),
        "done": len(done),
        "skipped": dict(sorted(skipped.items())),
        "attributed_now": attributed_now,
        "remaining": len(remaining),
        "seconds": round(time.perf_counter() - started, 2),
        "output_dir": str(folder) if folder else None,
    }
    _print_summary(summary, args.save_path)
    return summary


def _attribute_rows(
    model: AttributionModel,
    good: list[tuple[int, str, str | None]],
    args: AttributeExtendedArgs,
    skipped: dict[int, str],
    progress: Any,
) -> dict[int, FeatureAttributionOutput]:
    """Attribute a batch; when it fails, retry row by row and skip the rows that still fail."""
    if not good:
        return {}
    forced = [g for _, _, g in good]
    has_forced = any(g is not None for g in forced)
    if has_forced and not all(g is not None for g in forced):
        groups = [[r] for r in good]  # mixed forced / generated rows: one call each
    else:
        groups = [good]
    results: dict[int, FeatureAttributionOutput] = {}
    for group in groups:
        texts = [t for _, t, _ in group]
        gens = [g for _, _, g in group] if group[0][2] is not None else None
        try:
            out = attribute_with_model(model, texts, gens, args, show_progress=False)
            results.update({idx: part for (idx, _, _), part in zip(group, split_output(out))})
        except Exception as err:  # noqa: BLE001 - a bad row is reported, never fatal
            if len(group) == 1:
                skipped[group[0][0]] = f"attribution failed: {type(err).__name__}: {one_line(err)}"
                progress.console.print(f"[yellow]Skipping row {group[0][0]}: {skipped[group[0][0]]}")
            else:
                for row in group:
                    results.update(_attribute_rows(model, [row], args, skipped, progress))
    return results


def _merge(done: dict[int, str], folder: Path | None, in_memory: dict[int, Any]) -> FeatureAttributionOutput:
    from ..data import FeatureAttributionOutput, merge_attributions

    parts = []
    for idx in sorted(done):
        if idx in in_memory:
            parts.append(in_memory[idx])
        elif folder is not None and done[idx]:
            parts.append(FeatureAttributionOutput.load(folder / done[idx]))
    return merge_attributions(parts)


def _print_summary(summary: dict[str, Any], save_path: str | None) -> None:
    from rich.console import Console

    console = Console(stderr=False)
    status = "finished" if summary["remaining"] == 0 else f"stopped with {summary['remaining']} rows left (--resume)"
    console.print(
        f"[bold]Summary:[/bold] {summary['done']}/{summary['total']} rows attributed "
        f"({summary['attributed_now']} in this run), {len(summary['skipped'])} skipped, "
        f"{summary['seconds']:.1f}s, {status}."
    )
    for idx, reason in summary["skipped"].items():
        console.print(f"  skipped row {idx}: {reason}", markup=False, highlight=False)
    if summary["output_dir"]:
        console.print(f"Row outputs and manifest in {summary['output_dir']}", markup=False)
    if save_path and summary["remaining"] == 0 and summary["done"]:
        console.print(f"Merged attributions saved to {save_path}", markup=False)


class AttributeDatasetCommand(BaseCLICommand):
    """``inseq attribute-dataset``."""

    _name = "attribute-dataset"
    _help = "Perform feature attribution on a full dataset and save the results to a file."
    _dataclasses = (AttributeExtendedArgs, LoadDatasetArgs, DatasetRunArgs)

    @staticmethod
    def run(args: tuple[AttributeExtendedArgs, LoadDatasetArgs, DatasetRunArgs]) -> int:
        attr_args, dataset_args, run_args = args
        setup_logging(attr_args.verbose, attr_args.very_verbose)
        attribute_dataset(attr_args, dataset_args, run_args)
        return 0
