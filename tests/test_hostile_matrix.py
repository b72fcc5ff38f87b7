"""The hostile-input matrix: every class of hostile input or action that docs/reliability.md
names, through the real command line (``alapp.cli.main`` in this process; a second process
where another process is the point), on one realistic project: the demo, with imported test
labels, decisions made since (labels, a relabel, an undo, a skip) and a trained model.

Each case is checked three ways:

(a) the exit code (2: the user can fix it; 0: a safe success such as a read-only open; 70: a
    bug, named in one line) and exactly one line on stderr holding the expected words (and at
    most the one expected warning, itself one line);
(b) the project's label events, every column of every row, byte for byte as before, and the
    file still passing ``alapp check``;
(c) no traceback in anything the user sees.

Every class also has its own, more detailed tests; the table in docs/reliability.md names them.
"""

from __future__ import annotations

import builtins
import json
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alapp.cli import main

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="links, permissions and file names with any bytes")

Outcome = tuple[int, str, str]  # exit code, stdout, stderr


# -- the project every case starts from -------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo project, made by ``alapp demo``, then used: labels with times, a relabel, an
    undo, a skip, vectors and a trained model (``export-model`` has something to export).
    Closed, so the file alone is the whole project."""
    from alapp.app.rounds import save_result, snapshot_of
    from alapp.core.types import Split
    from alapp.loop.round import RoundRunner
    from alapp.store.demo import demo_data_path
    from alapp.store.project import Project
    from alapp.store.vectors import import_npy

    folder = tmp_path_factory.mktemp("template")
    path = folder / "p.alapp"
    assert main(["demo", "--no-gui", "--project", str(path)]) == 0
    gold = {row["id"]: row["gold"] for row in map(json.loads, demo_data_path().read_text(
        "utf-8").splitlines())}
    with Project.open(path, backup=False) as project:
        ids = project.item_ids()
        np.save(folder / "v.npy", np.random.default_rng(0).normal(size=(len(ids), 8))
                .astype(np.float32))
        import_npy(project, "v", folder / "v.npy", None)
        pool = project.item_ids(Split.POOL)
        for i, item in enumerate(pool[:24]):
            project.label_item(item, gold[project.item(item).ext_id], "ann", active_ms=900 + i)
        project.label_item(pool[0], "praise", "ann", active_ms=1200)  # a relabel
        project.undo_last("ann")
        project.skip_item(pool[30], "ann")
        project.flag_item(pool[31], "ann", note="unclear: two topics")
        project.update_settings(featurizer="vectors:v")
        save_result(project, RoundRunner().run(snapshot_of(project)))
    assert not Path(f"{path}-wal").exists()
    return path


def _label_events(path: Path) -> bytes:
    """Every column of every label event, in order, with the column names: as bytes."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        cursor = conn.execute("SELECT * FROM label_events ORDER BY id")
        rows = cursor.fetchall()
        names = [column[0] for column in cursor.description]
    finally:
        conn.close()
    assert len(rows) > 60  # the demo's test labels and the decisions above
    return repr((names, rows)).encode("utf-8")


@dataclass
class Env:
    tmp: Path
    project: Path  # this case's copy of the template
    capsys: pytest.CaptureFixture[str]
    monkeypatch: pytest.MonkeyPatch

    def file(self, name: str, content: str | bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return path


def cli(env: Env, *args: str | Path) -> Outcome:
    code = main([str(a) for a in args])
    captured = env.capsys.readouterr()
    return code, captured.out, captured.err


def child_cli(*args: str | Path, cwd: Path = ROOT,
              preexec: Callable[[], None] | None = None) -> Outcome:
    done = subprocess.run([sys.executable, "-m", "alapp", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120, preexec_fn=preexec,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    return done.returncode, done.stdout, done.stderr


HOLDER = """
import sys, warnings
warnings.simplefilter("ignore")
from alapp.store.project import Project
project = Project.open(sys.argv[1], backup=False)
print("writer", flush=True)
sys.stdin.readline()
project.close()
"""


@contextmanager
def writer_in_another_process(name: Path, cwd: Path) -> Iterator[None]:
    """A second process holding the project open for writing under ``name``, as a window
    would; it closes the project cleanly when the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(name)], cwd=cwd, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "writer"
        yield
        proc.communicate("\n", timeout=60)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _files(folder: Path) -> dict[str, bytes]:
    """The files under ``folder``, SQLite's -wal and -shm (which readers leave) aside."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(("-wal", "-shm"))}


# -- 1. outputs never replace the project ----------------------------------------------------


def export_onto(alias: str) -> Callable[[Env], Outcome]:
    def act(env: Env) -> Outcome:
        path = env.project
        out = {"itself": path, "symlink": env.tmp / "labels.jsonl",
               "hard link": env.tmp / "twin.jsonl", "-wal": Path(f"{path}-wal")}[alias]
        if alias == "symlink":
            out.symlink_to(path)
        if alias == "hard link":
            os.link(path, out)
        reader = sqlite3.connect(path)  # a reader has it open: its -wal exists
        try:
            reader.execute("SELECT COUNT(*) FROM items").fetchone()
            before = out.read_bytes()
            result = cli(env, "export", path, out, "--format", "jsonl", "--overwrite")
            assert out.read_bytes() == before
        finally:
            reader.close()
        return result
    return act


def export_model_onto_the_projects_folder(env: Env) -> Outcome:
    before = _files(env.tmp)
    result = cli(env, "export-model", env.project, env.tmp, "--overwrite")
    assert _files(env.tmp) == before
    return result


def export_model_onto_a_foreign_folder(env: Env) -> Outcome:
    folder = env.tmp / "thesis"
    (folder / "chapters").mkdir(parents=True)
    (folder / "thesis.tex").write_text("years of work")
    (folder / "chapters" / "one.tex").write_text("the first chapter")
    before = _files(folder)
    result = cli(env, "export-model", env.project, folder, "--overwrite")
    assert _files(folder) == before
    return result


# -- 2. one writer per file, whatever its name --------------------------------------------------


def second_writer_via_hard_link(env: Env) -> Outcome:
    link = env.tmp / "elsewhere.alapp"
    os.link(env.project, link)
    data = env.file("more.csv", "text,label\nnew item,billing\n")
    with writer_in_another_process(link, env.tmp):
        return cli(env, "import", env.project, data)


def second_writer_via_symlink(env: Env) -> Outcome:
    link = env.tmp / "shortcut.alapp"
    link.symlink_to(env.project)
    with writer_in_another_process(env.project, env.tmp):
        return cli(env, "config", link, "batch_size=5")


def second_writer_via_relative_path(env: Env) -> Outcome:
    env.monkeypatch.chdir(env.tmp)
    data = env.file("more.csv", "text,label\nnew item,billing\n")
    with writer_in_another_process(Path(env.project.name), env.tmp):
        return cli(env, "import", Path("..") / env.tmp.name / "." / env.project.name, data)


# -- 3. import: refused whole, in one line naming file and line ---------------------------------


def import_file(name: str, content: str | bytes, *options: str) -> Callable[[Env], Outcome]:
    def act(env: Env) -> Outcome:
        return cli(env, "import", env.project, env.file(name, content), *options)
    return act


def _utf8_head_cp1252_tail() -> bytes:
    from alapp.store.encoding import SAMPLE_BYTES

    head = "fine ünïcödé line\n".encode()
    return (b"text\n" + head * (SAMPLE_BYTES // len(head) + 10)
            + "café au lait für Jürgen\n".encode("cp1252"))


def import_a_directory(env: Env) -> Outcome:
    folder = env.tmp / "texts.csv"
    folder.mkdir()
    return cli(env, "import", env.project, folder)


def import_a_missing_file(env: Env) -> Outcome:
    return cli(env, "import", env.project, env.tmp / "missing.csv")


def surrogates_in_the_file_name(content: str) -> Callable[[Env], Outcome]:
    """A file name with bytes that are not UTF-8 (Linux takes any bytes): Python reads it as
    "caf\\udce9-\\udcff.csv". It imports as any other file; a message names it escaped."""
    def act(env: Env) -> Outcome:
        data = env.file(os.fsdecode(b"caf\xe9-\xff.csv"), content)  # Latin-1 bytes in a name
        result = cli(env, "import", env.project, data)
        shown = result[1] + result[2]  # escaped: \xNN in messages, \udcNN in output
        assert "caf\\xe9-\\xff.csv" in shown or "caf\\udce9-\\udcff.csv" in shown, result
        return result
    return act


def import_a_growing_file(env: Env) -> Outcome:
    """Another program is still writing the file while it is imported."""
    from alapp import cli as cli_module
    from alapp.store import parsing

    data = env.file("growing.csv", "text,label\nrow one,billing\nrow two,praise\nrow three,"
                                   "billing\npart")
    env.monkeypatch.setattr(parsing, "CHUNK", 2)

    def writer_goes_on(stream: Any) -> Callable[[int, int], bool]:
        def progress(done: int, total: int) -> bool:
            if data.stat().st_size < 200:
                with open(data, "a", encoding="utf-8") as out:
                    out.write("ly written row,praise\nrow five,billing\n")
            return True
        return progress

    env.monkeypatch.setattr(cli_module, "_progress_printer", writer_goes_on)
    return cli(env, "import", env.project, data)


def import_with_a_bug_after_the_rows_are_in(env: Env) -> Outcome:
    """A bug (here injected) after every labeled row was written: rolled back whole, exit 70,
    one line pointing at the log with the traceback."""
    from alapp.store import importer

    def bug(*args: Any, **kwargs: Any) -> None:
        raise ZeroDivisionError("division by zero")

    env.monkeypatch.setattr(importer, "_report_duplicates", bug)
    data = env.file("labeled.csv", "text,label\n" + "".join(
        f"labeled row {i},billing\n" for i in range(50)))
    return cli(env, "import", env.project, data)


def import_onto_a_full_disk(env: Env) -> Outcome:
    """The disk fills up in the middle of the import: SQLite's own page limit, set on the
    writer's connection as it opens, makes the file unable to grow (``max_page_count``)."""
    from alapp.store import project as store

    configure = store._configure_writer

    def full_disk(conn: sqlite3.Connection) -> None:
        configure(conn)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")

    env.monkeypatch.setattr(store, "_configure_writer", full_disk)
    data = env.file("big.csv", "text,label\n" + "".join(
        f"{'a long text ' * 40}{i},billing\n" for i in range(3000)))
    return cli(env, "import", env.project, data)


# -- 4. settings and model folders ---------------------------------------------------------------


def config(change: str) -> Callable[[Env], Outcome]:
    def act(env: Env) -> Outcome:
        return cli(env, "config", env.project, change)
    return act


class _Payload:
    """Unpickled, creates the marker file: what a hostile pickle does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').write('unpickled')",)


def _model_folder(env: Env) -> Path:
    """A plain Hugging Face folder: a config, a vocabulary, safetensors weights."""
    folder = env.tmp / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n")
    (folder / "model.safetensors").write_bytes((2).to_bytes(8, "little") + b"{}")
    return folder


def model_folder(spoil: str) -> Callable[[Env], Outcome]:
    def act(env: Env) -> Outcome:
        folder = _model_folder(env)
        marker = env.tmp / "foreign-code-ran"
        code = f"open({str(marker)!r}, 'w').write('imported')\n"
        if spoil == "auto_map":
            (folder / "modeling_evil.py").write_text(code)
            (folder / "config.json").write_text(json.dumps(
                {"model_type": "bert", "auto_map": {"AutoModel": "modeling_evil.EvilModel"}}))
        elif spoil == ".py":
            (folder / "modeling_bert.py").write_text(code)
        elif spoil == "pytorch_model.bin":
            (folder / "model.safetensors").unlink()
            (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Payload(marker)))
        result = cli(env, "config", env.project, f"featurizer={folder}")
        assert not marker.exists(), "foreign code ran"
        if result[0] == 0:  # the plain folder: set
            assert f"featurizer = {folder}" in result[1], result
        return result
    return act


# -- 5. the project file itself -----------------------------------------------------------------


def _flip_bytes(path: Path) -> None:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_schema WHERE name = 'label_events'"
                            ).fetchone()[0]
    finally:
        conn.close()
    data = bytearray(path.read_bytes())
    for i in range((root - 1) * size, (root - 1) * size + 4):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _cut_tail(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size * 2 // 5)


def damaged_copy(damage: Callable[[Path], None], *command: str) -> Callable[[Env], Outcome]:
    """The damage is done to a copy (the original is what (b) compares); nothing may be written
    into the damaged file either, nor a backup made of it."""
    def act(env: Env) -> Outcome:
        copy = env.tmp / "damaged.alapp"
        shutil.copy(env.project, copy)
        damage(copy)
        before = copy.read_bytes()
        data = env.file("more.csv", "text,label\nnew item,billing\n")
        result = cli(env, *(a.format(project=copy, data=data) for a in command))
        assert copy.read_bytes() == before
        assert not Path(f"{copy}.backups").exists() or not any(
            Path(f"{copy}.backups").iterdir())
        assert str(copy) in result[2] and "alapp backups" in result[2], result
        return result
    return act


def restore_a_damaged_backup(env: Env) -> Outcome:
    bad = env.tmp / "backup.alapp"
    shutil.copy(env.project, bad)
    _flip_bytes(bad)
    return cli(env, "restore", env.project, bad)


def _unprivileged() -> Callable[[], None] | None:
    """As in tests/test_data_safety.py: as root, the child drops the capabilities that bypass
    file permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER) before it starts, so
    the kernel, not a mock, refuses its writes."""
    if os.geteuid() != 0:
        return None
    import ctypes

    def drop() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        for cap in (1, 2, 3):
            if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "cannot drop capabilities")

    return drop


def read_only_project(*command: str) -> Callable[[Env], Outcome]:
    """The project file is read-only (0444): another process, held to permissions."""
    def act(env: Env) -> Outcome:
        data = env.file("more.csv", "text,label\nnew item,billing\n")
        out = env.tmp / "out.jsonl"
        args = [a.format(project=env.project, data=data, out=out) for a in command]
        env.project.chmod(0o444)
        try:
            result = child_cli(*args, preexec=_unprivileged())
        finally:
            env.project.chmod(0o644)
        if out.exists():  # the export: every labeled item it said
            assert f"exported {len(out.read_text('utf-8').splitlines())} labeled" in result[1]
        return result
    return act


# -- the matrix ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    act: Callable[[Env], Outcome]
    code: int  # 2: refused, the user can fix it; 0: a safe success; 70: a bug, in one line
    words: str  # in the one stderr line (refused), or in stdout (success)
    warning: str | None = None  # a one-line warning that may come before it
    bug: str | None = None  # a known bug: the case fails (xfail, strict) until it is fixed


# Found by this matrix (alapp/store/importer.py, _start): the file's name goes into the imports
# table as a str, and sqlite3 cannot encode "\udce9"; the UnicodeEncodeError is then reported as
# "alapp: error: the output: cannot be written as utf-8 (surrogates not allowed)": the file
# is not named, its content is never read, and no such file can ever be imported.
DEEP = "[" * 100_000 + "]" * 100_000

CASES: dict[str, Case] = {
    # outputs never replace the project, under any name
    "export onto the project": Case(export_onto("itself"), 2, "never replaces a project"),
    "export onto it via a symlink": Case(export_onto("symlink"), 2, "never replaces a project"),
    "export onto it via a hard link": Case(export_onto("hard link"), 2,
                                           "never replaces a project", warning="names"),
    "export onto its -wal": Case(export_onto("-wal"), 2, "never replaces a project"),
    "export-model --overwrite onto the project's folder": Case(
        export_model_onto_the_projects_folder, 2, "was not made by alapp export-model"),
    "export-model --overwrite onto a folder alapp did not make": Case(
        export_model_onto_a_foreign_folder, 2, "was not made by alapp export-model"),
    # one writer per file
    "second writer via a hard link": Case(second_writer_via_hard_link, 2,
                                          "another alapp process", warning="names"),
    "second writer via a symlink": Case(second_writer_via_symlink, 2, "another alapp process"),
    "second writer via a relative path": Case(second_writer_via_relative_path, 2,
                                              "another alapp process"),
    # import: refused whole
    "import: cp1252 tail after a UTF-8 head": Case(
        import_file("mixed.csv", _utf8_head_cp1252_tail()), 2, "cannot be decoded as utf-8"),
    "import: JSON with trailing garbage": Case(
        import_file("trailing.json", '[{"text": "a", "label": "billing"}]\ngarbage'), 2,
        "after the closing ]"),
    "import: a byte-order mark mid-file": Case(
        import_file("joined.csv", "\ufefftext,label\na,billing\n\ufefftext,label\nb,praise\n"),
        2, "byte-order mark"),
    "import: a NUL in an id": Case(
        import_file("nul-id.csv", "id,text,label\na,fine,billing\nb\x00c,two,praise\n"), 2,
        "NUL byte"),
    "import: a deeply nested JSONL record": Case(
        import_file("deep.jsonl", '{"text": "a", "label": "billing"}\n'
                                  f'{{"text": "b", "m": {DEEP}}}\n'), 2, "deep.jsonl"),
    "import: a JSONL key first seen late": Case(
        import_file("ids.jsonl", '{"text": "a", "label": "billing"}\n'
                                 '{"text": "b", "id": "k2", "label": "praise"}\n'), 2,
        "line 1 has none"),
    "import: a text with nothing visible": Case(
        import_file("zw.csv", "text,label\nfine,billing\n\u200b\u200d\u2060,praise\n"), 2,
        "nothing visible"),
    "import: a lone surrogate": Case(
        import_file("surrogate.jsonl", '{"text": "ok", "label": "billing"}\n'
                                       '{"text": "bad \\ud800 one"}\n'), 2, "lone surrogate"),
    "import: an id already in the project": Case(
        import_file("collide.csv", "id,text,label\nfresh-1,new text,billing\n"
                                   "en-praise-19,same id as a demo item,praise\n"), 2,
        "already in the project"),
    "import: a labeled file whose last label is bad": Case(
        import_file("bad-label.csv", "text,label\n" + "".join(
            f"row {i},billing\n" for i in range(200)) + "last,ha\x00m\n", "--add-labels"), 2,
        "NUL byte"),
    "import: a file still being written": Case(import_a_growing_file, 2,
                                               "changed during the import"),
    "import: a directory": Case(import_a_directory, 2, "texts.csv"),
    "import: a missing file": Case(import_a_missing_file, 2, "missing.csv"),
    "import: surrogates in the file name": Case(
        surrogates_in_the_file_name("text\nfine\nsecond\n"), 0, "imported 2 items"),
    "import: surrogates in the file name, a bad line": Case(
        surrogates_in_the_file_name("text\nfine\n\u200b\u200d\n"), 2, "nothing visible"),
    "import: a full disk": Case(import_onto_a_full_disk, 2, "disk is full"),
    "import: a bug after the rows are in": Case(import_with_a_bug_after_the_rows_are_in, 70,
                                                "internal error (ZeroDivisionError"),
    # settings
    "config batch_size=-5": Case(config("batch_size=-5"), 2, "batch_size=-5 is not allowed"),
    "config device=quantum": Case(config("device=quantum"), 2, "device='quantum' is not"),
    "config multi_label=ture": Case(config("multi_label=ture"), 2, "multi_label='ture' is not"),
    "config budget_unit=dollars": Case(config("budget_unit=dollars"), 2, "items, hours or money"),
    # model folders: no foreign code
    "featurizer: a model folder with auto_map": Case(model_folder("auto_map"), 2,
                                                     "asks for custom code ('auto_map')"),
    "featurizer: a model folder with a .py file": Case(model_folder(".py"), 2,
                                                       "holds Python code (modeling_bert.py)"),
    "featurizer: a model folder with only pytorch_model.bin": Case(
        model_folder("pytorch_model.bin"), 2, "pytorch_model.bin"),
    "featurizer: a plain model folder (accepted)": Case(model_folder("nothing"), 0,
                                                        "featurizer"),
    # the project file
    "stats on a damaged copy": Case(damaged_copy(_flip_bytes, "stats", "{project}"), 2,
                                    "is damaged"),
    "stats on a truncated copy": Case(damaged_copy(_cut_tail, "stats", "{project}"), 2,
                                      "is damaged"),
    "import into a damaged copy": Case(damaged_copy(_flip_bytes, "import", "{project}",
                                                    "{data}"), 2, "is damaged"),
    "restore a damaged backup": Case(restore_a_damaged_backup, 2, "not a sound backup"),
    "import into a read-only project file": Case(
        read_only_project("import", "{project}", "{data}"), 2, "read-only"),
    "export from a read-only project file (accepted)": Case(
        read_only_project("export", "{project}", "{out}"), 0, "labeled items to"),
}


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=case.bug)) if case.bug
    else name for name, case in CASES.items()])
def test_hostile_input_is_refused_in_one_line_and_the_labels_stay(
        name: str, template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[name]
    folder = tmp_path / "work"
    folder.mkdir()
    path = folder / "p.alapp"
    shutil.copy(template, path)
    before = _label_events(path)
    capsys.readouterr()

    code, out, err = case.act(Env(folder, path, capsys, monkeypatch))
    monkeypatch.undo()  # the full disk, the injected bug: gone before the checks below

    # (c) no traceback reaches the user
    assert "Traceback" not in out + err, err
    # (a) the exit code, and one line saying what
    assert code == case.code, (code, out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    if case.warning is not None and lines and lines[0].startswith("alapp: warning:"):
        assert case.warning in lines.pop(0), err
    if case.code == 0:
        assert case.words in out, (out, err)
        assert lines == [], err
    else:
        assert len(lines) == 1, err
        assert lines[0].startswith("alapp: error: " if case.code == 2 else "alapp: internal"), err
        assert case.words in lines[0], err
    # (b) the labels byte for byte, and a sound file
    assert _label_events(path) == before
    assert main(["check", str(path)]) == 0
    assert "ok" in capsys.readouterr().out
