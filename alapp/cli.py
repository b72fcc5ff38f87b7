"""The command line. Heavy modules (Qt, torch) are imported inside the commands that need them,
so ``alapp --help`` answers at once."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alapp.core.errors import AlappError
from alapp.core.files import refuse_protected, write_atomic
from alapp.core.location import ServerAddress, is_server_address

EXIT_USER_ERROR = 2  # the user can fix it: the message says what and where
EXIT_INTERNAL_ERROR = 70  # a bug (EX_SOFTWARE): the traceback is in the log file


def main(argv: Sequence[str] | None = None) -> int:
    shown_before = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        return _main(argv)
    finally:
        warnings.showwarning = shown_before


def _main(argv: Sequence[str] | None) -> int:
    _printable_streams()
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--self-check"]:  # what the packaged application documents
        argv[0] = "self-check"
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        result: int = args.run(args)
        return result
    except KeyboardInterrupt:
        _say("alapp: interrupted")
        return 130
    except BrokenPipeError:  # `alapp stats p | head -1`: the reader left, nothing to report
        _quiet_stdout()
        return 1
    except Exception as e:  # one line, never a traceback (see _report_error)
        return _report_error(e, args, argv)


def _show_warning(message: Warning | str, category: type[Warning], filename: str,
                  lineno: int, file: Any = None, line: str | None = None) -> None:
    """Warnings meant for the user (a network share, a stale setting) as one line."""
    _say(f"alapp: warning: {message}")


def _report_error(error: BaseException, args: argparse.Namespace, argv: list[str]) -> int:
    """An error the user can act on (ours, the OS's, the database's, input nested too deeply,
    out of memory, text in the wrong encoding) is one line naming the file, exit code 2; any
    other exception is a bug: its traceback goes to the log and the line points there."""
    from alapp.core.log import describe, internal_message, log_error

    message = describe(error, _subject(error, args))
    if message is not None:
        if isinstance(error, RecursionError | MemoryError):
            log_error(error, f"alapp {args.command}")  # data, most likely; kept in case not
        _say(f"alapp: error: {message}")
        return EXIT_USER_ERROR
    log = log_error(error, f"alapp {' '.join(argv)}")
    _say(f"alapp: {internal_message(error, log)}")
    return EXIT_INTERNAL_ERROR


def _subject(error: BaseException, args: argparse.Namespace) -> Path | None:
    """The file an error without a file name is about: the project for a database error, the
    input for everything else (an import's file), else the project."""
    from alapp.core.log import is_database_error

    project = getattr(args, "project", None)
    if isinstance(error, UnicodeEncodeError):  # printing, most likely: no file to blame
        return None
    if is_database_error(error):
        return project if isinstance(project, Path) else None
    for name in ("file", "vectors", "project"):
        value = getattr(args, name, None)
        if isinstance(value, Path):
            return value
    return None


def _say(line: str) -> None:
    """One line to stderr that cannot fail on what it contains."""
    from alapp.core.log import one_line

    text = one_line(line)
    try:
        print(text, file=sys.stderr, flush=True)
    except UnicodeEncodeError:  # a console that cannot show it: ASCII always can
        print(text.encode("ascii", "backslashreplace").decode("ascii"), file=sys.stderr)
    except (OSError, ValueError):
        pass  # stderr is gone: nowhere left to say it


def _printable_streams() -> None:
    """A file name with undecodable bytes (``\udcff`` in Python) or text a console's code page
    lacks must print escaped rather than raise UnicodeEncodeError in the middle of a command."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            with contextlib.suppress(OSError, ValueError):
                stream.reconfigure(errors="backslashreplace")


def _quiet_stdout() -> None:
    """After a broken pipe, Python would complain again while flushing stdout at exit."""
    import os

    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def project_location(text: str) -> Path | ServerAddress:
    """A project argument: a file, or a database on a PostgreSQL server (issue 20)."""
    if is_server_address(text):
        try:
            return ServerAddress(text)
        except AlappError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return Path(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alapp", description="Label texts with active learning, fully offline.")
    from alapp import __version__

    parser.add_argument("--version", action="version", version=f"alapp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("init", help="create a new project: a file, or postgresql://host/db")
    p.add_argument("project", type=project_location)
    p.add_argument("--labels", required=True, help="comma-separated label names")
    p.add_argument("--name", help="a display name (default: the file name)")
    p.add_argument("--seed", type=int, default=0, help="seed for reproducible batches")
    p.add_argument("--task", choices=("classification", "spans"), default="classification",
                   help="spans: label entities in texts; --labels are then the entity types")
    p.add_argument("--language", default="", help="spans: the tokenizer's language (en, ru, "
                   "zh, ...; default: detected from each imported file)")
    p.set_defaults(run=_init)

    p = sub.add_parser("import", help="import texts (CSV, TSV, JSONL, JSON, TXT) into a project")
    p.add_argument("project", type=project_location)
    p.add_argument("file", type=Path)
    add_import_options(p)
    p.set_defaults(run=_import)

    p = sub.add_parser("import-vectors", help="attach precomputed vectors (.npy, or the shard "
                       "folder alapp embed wrote) to the items")
    p.add_argument("project", type=project_location)
    p.add_argument("name", help="used as featurizer vectors:NAME (several: vectors:a+vectors:b)")
    p.add_argument("vectors", type=Path, help="a 2-d .npy matrix, one row per item; or a "
                   "folder of vector shards from alapp embed (checked, ids matched by item id)")
    p.add_argument("--ids", type=Path, help="the item ids of the rows, one per line "
                   "(default: rows follow the project's items in import order)")
    p.set_defaults(run=_import_vectors)

    p = sub.add_parser("embed", help="embed a large file of texts into Parquet vector shards, "
                       "on a Ray cluster, in Ray's local mode or in this process (resumable)")
    add_embed_options(p)
    p.set_defaults(run=_embed)

    p = sub.add_parser("export", help="export labeled items (JSONL, CSV, Prodigy JSONL)")
    p.add_argument("project", type=project_location)
    p.add_argument("out", type=Path)
    p.add_argument("--format", choices=("jsonl", "csv", "prodigy", "conll"),
                   help="default: from the file name; a span project writes conll or jsonl")
    p.add_argument("--scheme", choices=("bio", "bioes", "iob1"), default="bio",
                   help="spans: the tag scheme of a CoNLL export (default bio)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--annotators", action="store_true",  # issue 19
                   help="also every annotator's label and how the final one was reached "
                        "(tied items too; jsonl or csv)")
    p.set_defaults(run=_export)

    p = sub.add_parser("export-model", help="export the current model with a README")
    p.add_argument("project", type=project_location)
    p.add_argument("out", type=Path, help="a folder to create")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(run=_export_model)

    p = sub.add_parser("config", help="show or change project settings (strategy, budget, ...)")
    p.add_argument("project", type=project_location)
    p.add_argument("changes", nargs="*", metavar="KEY=VALUE",
                   help="e.g. strategy=badge batch_size=20 budget_unit=hours budget_amount=40")
    p.set_defaults(run=_config)

    p = sub.add_parser("labels", help="list the labels with their descriptions, or describe "
                       "one (the description joins the name as its zero-shot prototype)")
    p.add_argument("project", type=project_location)
    p.add_argument("--describe", nargs=2, action="append", default=[], metavar=("NAME", "TEXT"),
                   help='e.g. --describe Sports "games, teams, athletes" ("" clears it)')
    p.set_defaults(run=_labels)

    p = sub.add_parser("guidelines", help="print the project's labeling guidelines (Markdown), "
                       "or set, clear or save them")  # issue 19
    p.add_argument("project", type=project_location)
    one = p.add_mutually_exclusive_group()
    one.add_argument("--set", type=Path, metavar="FILE.md", dest="file",
                   help="replace them with a UTF-8 Markdown file")
    one.add_argument("--clear", action="store_true", help="remove them")
    one.add_argument("--out", type=Path, metavar="FILE.md", help="write them to a file")
    p.add_argument("--overwrite", "--force", action="store_true",
                   help="with --out: replace FILE.md if it exists")
    p.set_defaults(run=_guidelines)

    p = sub.add_parser("stats", help="counts of items, labels, events and labeling time")
    p.add_argument("project", type=project_location)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_stats)

    p = sub.add_parser("check", help="check a project file for damage (read-only; exit 1 if "
                                     "damaged)")
    p.add_argument("project", type=project_location)
    p.set_defaults(run=_check)

    p = sub.add_parser("backups", help="list a project's automatic backups")
    p.add_argument("project", type=project_location)
    p.add_argument("--now", action="store_true", help="make one now first")
    p.set_defaults(run=_backups)

    p = sub.add_parser("restore", help="put a backup in place of the project (the current file "
                                       "is kept beside it)")
    p.add_argument("project", type=project_location)
    p.add_argument("backup", type=Path, help="a name `alapp backups` lists, or a path")
    p.set_defaults(run=_restore)

    p = sub.add_parser("simulate", help="compare strategies on labeled data (learning curves)")
    p.add_argument("file", type=Path, nargs="?", help="a labeled file (same options as import)")
    p.add_argument("--project", type=Path, help="simulate on a project's labeled items instead")
    add_import_options(p)
    g = p.add_argument_group("simulation")
    g.add_argument("--strategies", default=None,
                   help="comma-separated strategy names (see `alapp strategies`); default "
                        "random,margin,entropy,uncertainty-cluster (stream mode: entropy)")
    g.add_argument("--seeds", type=int, default=5, help="repetitions with different seeds")
    g.add_argument("--batch", type=int, default=20)
    g.add_argument("--budget", type=int, default=1000,
                   help="labels to spend per run (seconds with --cost-column)")
    g.add_argument("--cost-column", default="", metavar="COLUMN",
                   help="a column with each item's labeling time in seconds: strategies see it "
                        "(--cost-aware, --set price_cap_s=S) and the budget is in seconds")
    g.add_argument("--cost-aware", action="store_true",
                   help="rank by value per predicted second (ROI), as the project setting")
    g.add_argument("--initial", choices=("cold-start", "random"), default="cold-start")
    g.add_argument("--featurizer", default="auto", help="auto, minilm, e5 or a model folder")
    g.add_argument("--classifier", default="logreg",
                   help="logreg, mlp, committee, mixed-committee or finetune; a strategy "
                        "that needs "
                        "another model (BALD: "
                        "the MLP) gets it, as in the application")
    g.add_argument("--candidate-factor", type=int, default=10,
                   help="combined strategies and ROI: candidates = factor x batch")
    g.add_argument("--diversity-ramp", type=int, default=200,
                   help="schedule: labels until selection is all uncertainty")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a project setting for every run, e.g. temperature=2 passive_labels=200 "
                        "freeze_batchnorm=true (repeat for more)")
    g.add_argument("--test-file", type=Path, help="a labeled held-out file (official split)")
    g.add_argument("--test-size", type=int, default=0,
                   help="held-out items drawn stratified from the data (default: 20%%)")
    g.add_argument("--split-seed", type=int, default=0)
    g.add_argument("--json", type=Path, help="write the full result here")
    g.add_argument("--plot", type=Path, help="write the learning curves as SVG here")
    g.add_argument("--mode", choices=("pool", "stream"), default="pool",
                   help="stream: items arrive in the file's order and are asked when their score "
                        "is above a threshold tuned to --ask-rate; compared with random and "
                        "asking everything")
    g.add_argument("--ask-rate", type=float, default=0.2,
                   help="stream mode: the share of arriving items to ask")
    g.add_argument("--initial-labels", type=float, default=0.0, metavar="N|SHARE",
                   help="size of the first labeled set (chosen as --initial says): a count, or "
                        "a share of the pool below 1 (seed 002: 0.3); default: one batch")
    g.add_argument("--finetune-lr", type=float, default=2e-5,
                   help="--classifier finetune: learning rate (default 2e-5)")
    g.add_argument("--finetune-epochs", type=int, default=3,
                   help="--classifier finetune: epochs per round (default 3)")
    g.add_argument("--finetune-batch-size", type=int, default=16,
                   help="--classifier finetune: mini-batch size (default 16)")
    g.add_argument("--model-folder", default="", help="--classifier finetune: the transformer "
                   "to fine-tune (default: the bundled MiniLM)")
    g.add_argument("--spans", action="store_true",  # issue 18
                   help="span labeling: FILE and --test-file are CoNLL files; sequence "
                        "strategies (default mnlp,total-token-entropy,least-confident-seq, and "
                        "seq-random) on the CRF, --batch sentences per round up to --budget")
    p.set_defaults(run=_simulate)

    p = sub.add_parser("strategies", help="list the query strategies with what each does")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_strategies)

    p = sub.add_parser("demo", help="open the application on a fresh built-in demo project")
    p.add_argument("--project", type=Path, help="where to create it (default: a temp folder)")
    p.add_argument("--no-gui", action="store_true", help="only create the project")
    p.set_defaults(run=_demo)

    p = sub.add_parser("self-check", help="check this installation works offline: models, "
                                          "training, a project, the window")
    p.add_argument("--no-gui", action="store_true", help="skip rendering the window")
    p.add_argument("--json", type=Path, help="also write the report as JSON")
    p.add_argument("--screenshot", type=Path, help="save the rendered window as a PNG")
    p.set_defaults(run=_self_check)

    p = sub.add_parser("gui", help="open the desktop application")
    p.add_argument("project", type=project_location, nargs="?")
    p.set_defaults(run=_gui)
    _package_commands(sub)  # exchange packages (issue 19)
    _team_parsers(sub)  # issue 19
    _copy_parser(sub)  # issue 20
    _worker_parser(sub)  # issue 20
    return parser


def add_import_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("reading the file")
    g.add_argument("--format", choices=("csv", "tsv", "jsonl", "json", "txt", "labeled-txt",
                                        "conll"),
                   help="default: from the file name; labeled-txt is '<label> <text>' per line; "
                   "a span project reads conll, jsonl (text and spans) or txt (one text a line)")
    g.add_argument("--encoding", help="utf-8, utf-16, cp1251, gb18030, latin-1, ... "
                   "(default: detected)")
    g.add_argument("--no-header", action="store_true", help="CSV/TSV without a header row; "
                   "refer to columns by number (1, 2, ...)")
    g.add_argument("--delimiter", help="field separator for CSV (default ',')")
    g = p.add_argument_group("column mapping (a column is a name or a 1-based number)")
    g.add_argument("--text", default="text", help="text column(s), comma-separated; several are "
                   "joined with a line break (default: text)")
    g.add_argument("--id", help="stable id column (default: 'id' if present, else generated)")
    g.add_argument("--label", help="label column (default: 'label' if present)")
    g.add_argument("--meta", help="metadata columns, comma-separated; 'none' for none "
                   "(default: every other column)")
    g.add_argument("--split", choices=("pool", "test", "seed"), default="pool",
                   help="where the items go (test: a held-out evaluation set)")
    g.add_argument("--split-column", help="column holding pool/test/seed per row")
    g.add_argument("--label-names", type=Path, help="file with one label name per line, mapping "
                   "numeric labels to names")
    g.add_argument("--label-base", type=int, default=0,
                   help="the number of the first name in --label-names (default 0)")
    g.add_argument("--add-labels", action="store_true",
                   help="add labels found in the file to the project instead of refusing them")
    g.add_argument("--max-chars", type=int, default=1_000_000,
                   help="refuse texts longer than this (default 1,000,000)")
    # multimodal: each item's image, kept in the project and shown next to its text
    g.add_argument("--image", help="image column: a file path (relative to the file's folder) "
                   "or base64 bytes per row; URLs are refused; 'none' for none (default: "
                   "'image' if present)")
    g.add_argument("--text-b", metavar="COLUMN", help="second text of a sentence pair (e.g. "
                   "MRPC's second sentence): items are classified as pairs; every row needs one")
    g = p.add_argument_group("span projects")
    g.add_argument("--scheme", choices=("bio", "bioes", "iob1"), default="bio",
                   help="the tag scheme of a CoNLL file (default bio; CoNLL-2003's original "
                   "files are iob1)")
    g.add_argument("--language", help="the tokenizer's language for texts without tokens "
                   "(en, ru, zh, ...; default: the project's, else detected)")


def import_spec_from_args(args: argparse.Namespace) -> Any:
    from alapp.app.projects import ImportSpec
    from alapp.core.types import Split

    names = None
    if args.label_names:
        try:
            names = [line.strip() for line in args.label_names.read_text("utf-8").splitlines()
                     if line.strip()]
        except (OSError, UnicodeDecodeError) as e:
            raise AlappError(f"{args.label_names}: cannot read the label names ({e})") from None
    meta = None if args.meta is None else ([] if args.meta == "none" else _csv_arg(args.meta))
    return ImportSpec(
        format=args.format, encoding=args.encoding, header=not args.no_header,
        delimiter=args.delimiter, text=_csv_arg(args.text), id=args.id, label=args.label,
        meta=meta, split=Split(args.split), split_column=args.split_column, label_names=names,
        label_base=args.label_base, add_labels=args.add_labels, max_chars=args.max_chars,
        image=_image_arg(getattr(args, "image", None)),
        text_b=getattr(args, "text_b", None),
        scheme=getattr(args, "scheme", "bio"), language=getattr(args, "language", None))


def _image_arg(value: str | None) -> str | None:
    """--image: None picks the 'image' column if there is one; 'none' means no image."""
    return "" if value is not None and value.strip().lower() == "none" else value


def _csv_arg(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _init(args: argparse.Namespace) -> int:
    from alapp.app.projects import create_project

    labels = _csv_arg(args.labels)
    if not labels:
        raise AlappError("--labels: give at least one label, e.g. --labels spam,ham")
    spans = {"task": "spans", "span_language": args.language} if args.task == "spans" else {}
    create_project(args.project, labels, name=args.name, seed=args.seed, **spans)
    what = "entity types" if spans else "labels"
    print(f"created {args.project} with {what}: {', '.join(labels)}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from alapp.app.projects import import_into

    spec = import_spec_from_args(args)
    report = import_into(args.project, args.file, spec, _progress_printer(sys.stderr))
    print(file=sys.stderr)
    print(f"imported {report.rows:,} items ({report.labeled:,} labeled) from {report.path} "
          f"[{report.format}, {report.encoding}] in {report.seconds:.2f} s")
    if report.images:
        print(f"{report.images:,} items have an image")
    if report.new_labels:
        print(f"new labels: {', '.join(report.new_labels)}")
    if report.duplicate_texts_in_file or report.duplicate_texts_in_project:
        print(f"warning: {report.duplicate_texts_in_file} texts repeat within the file and "
              f"{report.duplicate_texts_in_project} were already in the project "
              f"(e.g. ids {', '.join(report.duplicate_examples)})", file=sys.stderr)
    return 0


def _progress_printer(stream: Any) -> Any:
    def show(done: int, total: int) -> bool:
        if stream.isatty() and total:
            stream.write(f"\rimporting... {100 * done / total:5.1f}%")
            stream.flush()
        return True
    return show


def _bar_printer(stream: Any) -> Any:
    """A one-line progress bar with the elapsed time and an estimate of what is left. Work
    comes in phases (embedding, then the runs), each from 0 to 1: a drop starts a new clock."""
    clock = {"started": time.monotonic(), "last": 0.0}

    def show(fraction: float, what: str) -> None:
        if fraction < clock["last"]:
            clock["started"] = time.monotonic()
            show.last_decile = -1  # type: ignore[attr-defined]
        clock["last"] = fraction
        elapsed = time.monotonic() - clock["started"]
        left = f", ~{_duration(elapsed / fraction - elapsed)} left" if fraction > 0.02 else ""
        bar = "#" * int(30 * fraction) + "." * (30 - int(30 * fraction))
        line = f"[{bar}] {fraction:6.1%} {_duration(elapsed)} elapsed{left}  {what}"
        if stream.isatty():
            stream.write(f"\r{line[:119]:<119}")
            stream.flush()
        elif int(fraction * 10) != show.last_decile:  # type: ignore[attr-defined]
            show.last_decile = int(fraction * 10)  # type: ignore[attr-defined]
            print(line, file=stream, flush=True)  # logs get a line per tenth, not a flood

    show.last_decile = -1  # type: ignore[attr-defined]
    return show


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _import_vectors(args: argparse.Namespace) -> int:
    from alapp.app.projects import import_vectors

    count = import_vectors(args.project, args.name, args.vectors, args.ids)
    print(f"stored {count:,} vectors as vectors:{args.name}")
    return 0


def add_embed_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="Parquet, JSONL, CSV or TSV with an id and a text "
                   "column")
    p.add_argument("--model", type=Path, required=True, help="a local Hugging Face model folder "
                   "(safetensors)")
    p.add_argument("--out", type=Path, required=True, help="a new or empty folder, or the folder "
                   "of an unfinished run of the same job (finished shards are skipped)")
    p.add_argument("--cluster", help="ray://HOST:PORT or auto (default: this machine)")
    p.add_argument("--no-ray", action="store_true", help="embed in this process, without Ray")
    p.add_argument("--workers", type=int, help="Ray workers (default: every GPU, else every CPU)")
    p.add_argument("--shard-rows", type=int, default=10_000, help="rows per shard file")
    p.add_argument("--batch-size", type=int, default=64, help="texts per forward pass")
    p.add_argument("--max-length", type=int, default=256, help="tokens per text at most")
    p.add_argument("--text-field", default="text")
    p.add_argument("--id-field", default="id")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")


def _embed(args: argparse.Namespace) -> int:
    from alapp.app.embed_job import EmbedOptions, embed_file

    options = EmbedOptions(
        shard_rows=args.shard_rows, batch_size=args.batch_size, max_length=args.max_length,
        id_field=args.id_field, text_field=args.text_field, cluster=args.cluster,
        use_ray=False if args.no_ray else None, workers=args.workers, device=args.device)

    def show(done: Any) -> None:
        rate = done.rows_done / done.seconds if done.seconds else 0.0
        print(f"shard {done.index:05d}: {done.rows:,} texts ({done.finished} of {done.total} "
              f"shards, {rate:,.0f} texts/s)", flush=True)

    report = embed_file(args.file, args.model, args.out, options, show)
    print(f"{report.out}: {report.rows:,} vectors of {report.dimension} dimensions in "
          f"{report.shards} shards ({report.engine}: {len(report.computed)} computed, "
          f"{len(report.skipped)} already done)")
    return 0


def _export(args: argparse.Namespace) -> int:
    from alapp.app.projects import export_labels

    count = export_labels(args.project, args.out, args.format, overwrite=args.overwrite,
                          scheme=args.scheme, annotators=args.annotators)
    print(f"exported {count:,} labeled items to {args.out}")
    return 0


def _config(args: argparse.Namespace) -> int:
    from alapp.app.projects import configure

    settings, warnings = configure(args.project, args.changes)
    for message in warnings:  # an old project's stored values that no longer validate
        print(f"alapp: warning: {message}", file=sys.stderr)
    for key, value in settings.as_rows().items():
        if key == "guidelines" and value:  # issue 19: long Markdown, shown by its own command
            value = f"({len(value):,} characters; alapp guidelines {args.project})"
        print(f"{key:>16} = {value}")
    return 0


def _guidelines(args: argparse.Namespace) -> int:
    """Issue 19: print, set (--set FILE), clear or save (--out FILE) the guidelines."""
    from alapp.app import guidelines

    if args.overwrite and args.out is None:
        raise AlappError("--overwrite goes with --out FILE.md")
    if args.file is not None:
        text = guidelines.set_guidelines(args.project, args.file)
        print(f"guidelines of {args.project} set from {args.file} ({len(text):,} characters)")
    elif args.clear:
        guidelines.clear_guidelines(args.project)
        print(f"guidelines of {args.project} cleared")
    elif args.out is not None:
        count = guidelines.write_guidelines_file(args.project, args.out, args.overwrite)
        print(f"wrote the guidelines of {args.project} ({count:,} characters) to {args.out}")
    else:
        text = guidelines.guidelines(args.project)
        if not text:
            print(f"{args.project}: no guidelines yet (alapp guidelines {args.project} "
                  "--set FILE.md)", file=sys.stderr)
        else:
            print(text, end="" if text.endswith("\n") else "\n")
    return 0


def _labels(args: argparse.Namespace) -> int:
    from alapp.app.projects import describe_labels

    for name, description in describe_labels(args.project, args.describe):
        print(f"{name}: {description}" if description else name)
    return 0


def _export_model(args: argparse.Namespace) -> int:
    from alapp.app.projects import export_model

    info = export_model(args.project, args.out, overwrite=args.overwrite)
    print(f"exported model version {info['version']} ({info['kind']}) to {args.out}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from alapp.app.projects import stats as project_stats
    from alapp.app.session import LabelingSession

    stats = project_stats(args.project)
    with LabelingSession.open_read_only(args.project, "stats") as session:
        stats["budget"] = session.budget_report()
    if args.json:
        print(json.dumps(stats, ensure_ascii=False, indent=2))
    else:
        for key, value in stats.items():
            print(f"{key:>16}: {_budget_text(value) if key == 'budget' else value}")
    return 0


def _budget_text(report: dict[str, Any]) -> str:
    """``stats``' budget line: "40 of 100 (items) spent, 60 left (40%)" or "none set"."""
    if not report["amount"]:
        return f"none set ({report['labels_paid']} labels, {report['active_hours']:g} h active)"
    from alapp.core.format import amount, percent

    def shown(value: float) -> str:
        text = amount(value, report["unit"], report["currency"] or "EUR")
        return f"{text} h" if report["unit"] == "hours" else text

    left = report["forecast"]["labels_left_in_budget"]
    buys = (f"; buys about {left:,.0f} more labels at this pace"
            if left is not None and report["unit"] != "items" else "")
    return (f"{shown(report['spent'])} of {shown(report['amount'])} spent, "
            f"{shown(report['remaining'])} left ({percent(report['fraction'])})"
            f"{'; SPENT: labeling stops' if report['exhausted'] else ''}{buys}")


def _check(args: argparse.Namespace) -> int:
    from alapp.app.projects import check_project

    problems = check_project(args.project)
    if not problems:
        print(f"{args.project}: ok (SQLite integrity and foreign-key checks passed)")
        return 0
    for problem in problems:
        print(f"  {problem}")
    print(f"{args.project}: damaged ({len(problems)} problem{'s' * (len(problems) > 1)}); "
          f"restore a backup: alapp backups {args.project}")
    return 1


def _backups(args: argparse.Namespace) -> int:
    from datetime import datetime

    from alapp.app.projects import backup_now, list_backups

    if args.now:
        print(f"backed up to {backup_now(args.project)}")
    backups = list_backups(args.project)
    if not backups:
        print(f"{args.project}: no backups yet (alapp makes one when a project with items is "
              "opened for writing, then every 200 decisions)")
        return 0
    for backup in backups:
        when = datetime.fromtimestamp(backup.created).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{backup.path.name}  {when}  {backup.size / 1e6:,.1f} MB")
    print(f"in {backups[0].path.parent}; restore one: alapp restore {args.project} NAME")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from alapp.app.projects import restore_backup

    kept = restore_backup(args.project, args.backup)
    print(f"restored {args.project} from {args.backup}")
    if kept is not None:
        print(f"the file it replaced is kept as {kept}")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from alapp.app.plot_svg import learning_curves_svg
    from alapp.app.simulate_file import (
        SimulationConfig,
        check_config,
        open_to_simulate,
        parse_settings,
        simulate_file,
        simulate_project,
    )

    if args.featurizer == "tfidf":
        raise AlappError("--featurizer: simulation uses embeddings (auto, minilm, e5, a folder)")
    for out in (args.json, args.plot):
        if out is not None and not out.parent.is_dir():
            raise AlappError(f"{out.parent}: no such folder")
        if out is not None:  # before minutes of work, not after
            refuse_protected(out, (args.project, args.file))
    if args.spans:  # issue 18
        return _simulate_spans(args)
    strategies = args.strategies or ("entropy" if args.mode == "stream"
                                     else "random,margin,entropy,uncertainty-cluster")
    cfg = SimulationConfig(_csv_arg(strategies), batch=args.batch, budget=args.budget,
                           seeds=args.seeds, initial=args.initial, classifier=args.classifier,
                           candidate_factor=args.candidate_factor,
                           diversity_ramp=args.diversity_ramp,
                           mode=args.mode, stream_ask_rate=args.ask_rate,
                           settings=parse_settings(args.set),
                           initial_labels=args.initial_labels, finetune_lr=args.finetune_lr,
                           finetune_epochs=args.finetune_epochs,
                           finetune_batch_size=args.finetune_batch_size,
                           model_folder=args.model_folder, cost_column=args.cost_column,
                           cost_aware=args.cost_aware)
    if cfg.cost_aware and not cfg.cost_column:
        raise AlappError("--cost-aware needs --cost-column: the time each item takes")
    check_config(cfg)

    show = _bar_printer(sys.stderr)

    if args.project:
        with open_to_simulate(args.project) as project:  # read-only: nothing is saved to it
            n = len(project.current_labels())
            result = simulate_project(project, cfg, args.featurizer,
                                      args.test_size or n // 5, args.split_seed, show)
        title = str(args.project)
    elif args.file:
        spec = import_spec_from_args(args)
        result = simulate_file(args.file, spec, cfg, args.featurizer, args.test_file,
                               args.test_size, args.split_seed, show)
        title = args.file.name
    else:
        raise AlappError("give a labeled FILE or --project")
    print(file=sys.stderr)
    if args.json:
        write_atomic(args.json, json.dumps(result, indent=1), protect=(args.project, args.file))
    if args.plot:
        write_atomic(args.plot, learning_curves_svg(result, f"alapp simulate: {title}"),
                     protect=(args.project, args.file))
    full = result["full_pool"]["accuracy"]
    print(f"full-pool {result.get('measure', 'accuracy')} {full:.3f}; recommended: "
          f"{result['recommendation_detail']['text']}")
    for name, s in result["strategies"].items():
        reach = s["labels_to_95pct_of_full"]
        print(f"  {name:<22} AULC {s['aulc_accuracy']:.3f}  final {s['accuracy_mean'][-1]:.3f}"
              f"  95% of full at {reach if reach is not None else '-'} labels  ({s['model']})")
        if "ask_rate_target" in s:  # stream mode
            after = s["ask_rate_after_warm_up"]
            print(f"  {'':<22} asked {s['ask_rate_achieved']:.1%} of {s['arrived'][-1]:.0f} "
                  f"arrived items (target {s['ask_rate_target']:.0%}"
                  + (f"; {after:.1%} once a threshold was set)" if after is not None else ")"))
    return 0


def _simulate_spans(args: argparse.Namespace) -> int:
    """`alapp simulate --spans`: every sequence strategy vs random on CoNLL files."""
    from alapp.app.plot_svg import learning_curves_svg
    from alapp.app.simulate_file import parse_settings
    from alapp.app.simulate_spans import (
        DEFAULT_STRATEGIES,
        SpanSimConfig,
        grid_of,
        read_corpus,
        simulate_span_files,
    )

    if args.file is None or args.project is not None:
        raise AlappError("--spans: give a CoNLL FILE (the pool) and --test-file")
    pool = read_corpus(args.file, args.scheme)  # fails early, with file:line
    share = 1.0 if args.test_file is not None else 0.8
    cfg = SpanSimConfig(_csv_arg(args.strategies or DEFAULT_STRATEGIES),
                        grid=grid_of(args.batch, args.budget, int(len(pool.texts) * share)),
                        seeds=args.seeds, settings=parse_settings(args.set))
    result = simulate_span_files(args.file, args.test_file, cfg, args.scheme, args.split_seed,
                                 lambda c: print(f"  {c.strategy} seed {c.seed}: final F1 "
                                                 f"{c.f1[-1]:.3f}", file=sys.stderr))
    protect = (args.file, args.test_file)
    if args.json:
        write_atomic(args.json, json.dumps(result, indent=1), protect=protect)
    if args.plot:
        write_atomic(args.plot, learning_curves_svg(result, f"alapp simulate: {args.file.name}"),
                     protect=protect)
    full = result["full_training"]
    print(f"full training ({full['sentences']:,} sentences) entity F1 {full['f1']:.3f}; "
          f"recommended: {result['recommendation']['text']}")
    for name, s in result["strategies"].items():
        at = s["sentences_to_95pct_of_full"]
        reach = (f"{at:.0f} sentences ({s['sentence_share_to_95pct_of_full']:.0%}), "
                 f"{s['tokens_to_95pct_of_full']:.0f} tokens" if at is not None else "-")
        print(f"  {name:<22} AULC {s['aulc_accuracy']:.3f}  final {s['f1_mean'][-1]:.3f}  "
              f"95% of full at {reach}")
    return 0


def _strategies(args: argparse.Namespace) -> int:
    from alapp.al.registry import STRATEGIES

    if args.json:
        print(json.dumps({s.name: {"summary": s.summary, "seed": s.seed,
                                  "needs": [str(n) for n in s.needs],
                                  "cost_aware": s.cost_effect}
                          for s in STRATEGIES.values()}, indent=2, ensure_ascii=False))
    else:
        width = max(len(name) for name in STRATEGIES)
        for spec in STRATEGIES.values():
            print(f"{spec.name:<{width}}  {spec.summary}")
            if spec.seed:
                print(f"{'':<{width}}  seed: {spec.seed}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    import tempfile

    from alapp.app.projects import create_demo

    path = args.project or Path(tempfile.mkdtemp(prefix="alapp-demo-")) / "demo.alapp"
    create_demo(path)
    print(f"demo project: {path}")
    if args.no_gui:
        return 0
    return _run_gui(path)


def _self_check(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from alapp.app.self_check import run_self_check

    extra = []
    if not args.no_gui:
        from alapp.ui.self_check_gui import render_demo

        extra.append(("open the demo in the window",
                      lambda folder: render_demo(folder, args.screenshot)))
    report = run_self_check(extra)
    print(report.text())
    if args.json:
        write_atomic(args.json, json.dumps(report.as_dict(), indent=1))
    return 0 if report.ok else 1


def _gui(args: argparse.Namespace) -> int:
    return _run_gui(args.project)


def _run_gui(path: Path | None) -> int:
    try:
        from alapp.ui.app import run
    except ImportError as e:
        raise AlappError(f"the desktop application needs PySide6 ({e})") from None
    code: int = run(path)
    return code


# -- moving a project between stores (issue 20): copy ---------------------------------------------


def _copy_parser(sub: Any) -> None:
    p = sub.add_parser("copy", help="copy a project to another store, losing nothing: a file to "
                                    "postgresql://..., back, or to another file")
    p.add_argument("source", help="a project file or a postgresql:// address")
    p.add_argument("dest", help="a new file, or the postgresql:// address of an empty database "
                                "(never overwritten)")
    p.set_defaults(run=_copy)


def _copy(args: argparse.Namespace) -> int:
    from alapp.app.copying import copy_project, report_text

    print(report_text(copy_project(args.source, args.dest, progress=_say)))
    return 0


# -- exchange packages (issue 19): pack, open-package, pack-results, merge ----------------------


def _package_commands(sub: Any) -> None:
    p = sub.add_parser("pack", help="write a package of items for an annotator to label on "
                                    "another machine")
    p.add_argument("project", type=project_location)
    p.add_argument("--for", dest="annotator", required=True, metavar="NAME",
                   help="the annotator the package is for")
    p.add_argument("--items", type=int, required=True, metavar="N", help="items to pack")
    p.add_argument("--overlap", default="0", metavar="K%",
                   help="share of the N items drawn from items packed for other annotators, "
                        "to measure agreement (e.g. 15%%; default 0)")
    p.add_argument("--out", type=Path, help="the package file (default: beside the project, "
                                            "PROJECT-NAME-ID.alapppack)")
    p.add_argument("--with-model", action="store_true",
                   help="include the latest model version")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.set_defaults(run=_pack)

    p = sub.add_parser("open-package", help="turn a package into a project file to label")
    p.add_argument("file", type=Path)
    p.add_argument("--out", type=Path, help="the project file to create (default: the "
                                            "package's name with .alapp)")
    p.set_defaults(run=_open_package)

    p = sub.add_parser("pack-results", help="write the labels made in an opened package as a "
                                            "results package, for the lead to merge")
    p.add_argument("project", type=project_location)
    p.add_argument("--out", type=Path, help="default: beside it, PROJECT-results-TIME.alapppack")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.set_defaults(run=_pack_results)

    p = sub.add_parser("merge", help="merge a results package into the project (all or "
                                     "nothing; merging it again changes nothing)")
    p.add_argument("project", type=project_location)
    p.add_argument("package", type=Path)
    p.set_defaults(run=_merge)


def _pack(args: argparse.Namespace) -> int:
    from alapp.app.packages import pack, parse_overlap

    report = pack(args.project, args.annotator, args.items, parse_overlap(args.overlap),
                  args.out, with_model=args.with_model, force=args.force)
    print(report.text())
    return 0


def _open_package(args: argparse.Namespace) -> int:
    from alapp.app.packages import open_package

    report = open_package(args.file, args.out)
    with contextlib.suppress(ImportError):  # the window labels under the packed-for name
        from alapp.ui.preferences import set_annotator

        set_annotator(report.path, report.annotator)
    print(report.text())
    return 0


def _pack_results(args: argparse.Namespace) -> int:
    from alapp.app.packages import pack_results

    print(pack_results(args.project, args.out, force=args.force).text())
    return 0


def _merge(args: argparse.Namespace) -> int:
    from alapp.app.packages import merge_package, merge_text

    print(merge_text(merge_package(args.project, args.package), args.package))
    return 0


# -- the worker (issue 20): a headless trainer, e.g. on the machine with a GPU --------------------


def _worker_parser(sub: Any) -> None:
    p = sub.add_parser(
        "worker", help="train and score rounds headless, one line per round (e.g. on the "
        "machine with a GPU); the windows take its model and queue",
        description="Loops: when enough labels arrived since the newest round, takes the "
        "project's trainer lock (one trainer at a time), runs the round the window runs, saves "
        "it and lets go. Ctrl+C or SIGTERM stops it between steps (a round in progress is not "
        "saved). On a server project (postgresql://...) it runs beside the windows; on a "
        "project file it takes the file's lock, so it runs only when no window has the file "
        "open (a window opened meanwhile opens it read-only).")
    p.add_argument("address", metavar="ADDRESS", type=project_location,
                   help="postgresql://host/database, or a project file")
    p.add_argument("--once", action="store_true", help="one check (and round, if due), then "
                   "exit")
    p.add_argument("--min-new-labels", type=int, metavar="N", help="labels since the newest "
                   "round that make a new round due (default 10)")
    p.add_argument("--poll", type=float, metavar="SECONDS",
                   help="how often to look for new labels (default 30)")
    p.add_argument("--name", default="worker", help="the name its rounds and presence carry "
                   "(default: worker)")
    p.set_defaults(run=_worker)


def _worker(args: argparse.Namespace) -> int:
    import signal

    from alapp.app.worker import Worker, WorkerOptions

    given = {"min_new_labels": args.min_new_labels, "poll_s": args.poll}
    options = WorkerOptions(once=args.once, name=args.name,
                            **{k: v for k, v in given.items() if v is not None})
    worker = Worker(args.address, options, say=lambda line: print(line, flush=True))

    def stop(signum: int, frame: Any) -> None:
        _say(f"alapp worker: stopping ({signal.Signals(signum).name})")
        signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT
                      else signal.SIG_DFL)  # a second one stops at once
        worker.stop()

    before = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        worker.run()
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
    return 0


# -- teams (issue 19): annotators, agreement, review, adjudication -------------------------------

def _team_parsers(sub: Any) -> None:
    p = sub.add_parser("annotators", help="list the project's annotators (who labeled, was "
                                          "added or reviewed) with what each did")
    p.add_argument("project", type=project_location)
    p.add_argument("--add", metavar="NAME", help="register an annotator first")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_annotators)

    p = sub.add_parser("agreement", help="agreement between the annotators: Cohen's kappa per "
                       "pair, Fleiss' kappa, Krippendorff's alpha (spans: entity F1)")
    p.add_argument("project", type=project_location)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_agreement)

    p = sub.add_parser("review", help="the review queue: ties, disagreements, flagged items and "
                       "labels the model suspects (confident learning)")
    p.add_argument("project", type=project_location)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="at most N items")
    p.add_argument("--only", action="append", default=[], metavar="REASON",
                   choices=("tie", "disagreement", "flagged", "suspect"),
                   help="tie, disagreement, flagged or suspect (repeat for more)")
    p.add_argument("--no-label-check", action="store_true",
                   help="skip the out-of-fold label check (no suspects, faster)")
    p.add_argument("--folds", type=int, default=5, help="folds of the label check (default 5)")
    p.set_defaults(run=_review)

    p = sub.add_parser("adjudicate", help="decide an item's final label as a reviewer (an "
                                          "adjudication event; --withdraw takes it back)")
    p.add_argument("project", type=project_location)
    p.add_argument("item", metavar="ITEM_ID", help="the item's id (as imported)")
    p.add_argument("label", nargs="?", help="the final label")
    p.add_argument("--as", dest="reviewer", default=None, metavar="NAME",
                   help="the reviewer's name (default: the login)")
    p.add_argument("--note", default="", help="why (kept with the decision)")
    p.add_argument("--withdraw", action="store_true",
                   help="withdraw the decision: the training-label rule decides again")
    p.set_defaults(run=_adjudicate)


def _annotators(args: argparse.Namespace) -> int:
    from alapp.app.team import annotators_of

    rows = annotators_of(args.project, args.add)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for row in rows:
        print(f"{row['name']}: {row['items']} items labeled, {row['adjudications']} "
              f"adjudications, {row['events']} decisions ({row['how']})")
    return 0


def _agreement(args: argparse.Namespace) -> int:
    from alapp.app.team import team_report_of

    report = team_report_of(args.project)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return 0
    print(f"items labeled: {report.items_labeled} ({report.items_overlap} by two or more "
          f"annotators, {report.items_single} by one: counted, not used); "
          f"{report.disputed} tied, {report.adjudicated} adjudicated; "
          f"training-label rule: {report.rule}")
    for stat in (report.fleiss, report.alpha, report.span_f1):
        if stat is not None:
            print(f"{stat.name}: {stat.overall.text()}"
                  + (f" [{stat.note}]" if stat.note else ""))
            for label, figure in stat.per_label.items():
                print(f"    {label}: {figure.text()}")
    for pair in report.pairs:
        value = pair.value.text() if pair.value.value is not None else "not enough overlap yet"
        print(f"{report.measure} {pair.first} / {pair.second} ({pair.shared} shared): {value}")
    for a in report.annotators:
        def num(v: float | None, fmt: str) -> str:
            return "—" if v is None else format(v, fmt)
        print(f"{a.name}: {a.items} items, {num(a.labels_per_hour, '.0f')} labels/h, median "
              f"{num(a.median_seconds, '.1f')} s; with others {num(a.with_others, '.2f')} "
              f"(n={a.with_others_items}); with the reviewer {num(a.adjudicated_share, '.0%')}"
              f" of {a.adjudicated_items}; reliability {num(a.reliability, '.2f')}")
    for note in report.notes:
        print(f"note: {note}")
    return 0


def _review(args: argparse.Namespace) -> int:
    from alapp.app.team import REASONS, review_file

    if args.limit is not None and args.limit < 1:
        raise AlappError(f"--limit {args.limit}: give 1 or more")
    if args.folds < 2:
        raise AlappError(f"--folds {args.folds}: the label check needs 2 or more folds")
    entries, scan = review_file(args.project, args.folds, not args.no_label_check,
                                args.only or REASONS, args.limit)
    if args.json:
        print(json.dumps({"label_check": None if scan is None else
                          {"note": scan.note, "suspects": len(scan.suspects),
                           "estimated_errors": scan.estimated_errors},
                          "items": [e.as_dict() for e in entries]},
                         ensure_ascii=False, indent=2))
        return 0
    if scan is not None:
        print(f"label check: {scan.note}")
    for e in entries:
        votes = ", ".join(f"{v.annotator}={v.label}" for v in e.votes) or "no votes"
        final = f"{e.training_label} ({e.how})" if e.training_label is not None else \
            (e.how or "unlabeled")
        guess = f"; model: {e.guess.label} {e.guess.probability:.0%}" if e.guess else ""
        text = " ".join(e.text.split())
        print(f"[{', '.join(e.reasons)}] {e.ext_id}: {text[:70]}")
        print(f"    {votes}; final: {final}{guess}")
        for flag in e.flags:
            print(f"    flag by {flag.annotator}: {flag.note or '(no comment)'}")
    print(f"{len(entries)} item(s) to review")
    return 0


def _adjudicate(args: argparse.Namespace) -> int:
    import getpass

    from alapp.app.team import adjudicate_file

    if args.withdraw == (args.label is not None):
        raise AlappError("give a LABEL or --withdraw (not both)")
    done = adjudicate_file(args.project, args.item, None if args.withdraw else args.label,
                           args.reviewer or getpass.getuser(), args.note)
    print(f"{done.ext_id}: " + (f"final label {done.label} ({done.how})" if done.label
                                 is not None else f"no training label ({done.how or 'none'})"))
    return 0
