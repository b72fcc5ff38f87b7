"""Data loss and corruption must be impossible (docs/reliability.md lists what each test proves).

- outputs never replace what alapp did not make: ``export-model --overwrite`` only replaces its
  own folder; ``export`` and ``simulate`` never write over the project, under any name;
- outputs are atomic: fsynced under a temporary name, then renamed;
- a read-only project is refused for writing in one line and opens read-only; a full disk rolls
  the whole write back; a network filesystem warns;
- a damaged project file is one line naming it and the backups, never a traceback;
  ``alapp check`` finds the damage; rolling backups are made, listed and restored.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from alapp.cli import main
from alapp.core.errors import (
    AlappError,
    DiskFullError,
    ProjectDamagedError,
    ProjectFormatError,
    ProjectLockedError,
    StorageWarning,
)
from alapp.core.files import write_atomic
from alapp.store import backup
from alapp.store.importer import import_file
from alapp.store.project import Project
from tests.conftest import write

ROOT = Path(__file__).parents[1]
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions and links")


def _project(folder: Path, n: int = 300, labeled: int = 60, name: str = "p.alapp") -> Path:
    """A closed project (its log folded into the file) with items and labels."""
    path = folder / name
    with Project.create(path, ["spam", "ham"]) as project:
        import_file(project, write(folder / f"{name}.csv", "text\n" + "".join(
            f"message number {i} about {'money' if i % 2 else 'lunch'}\n" for i in range(n))))
        for i, item in enumerate(project.item_ids()[:labeled]):
            project.label_item(item, ("spam", "ham")[i % 2], "ann")
    return path


def _labels(path: Path) -> dict[int, str]:
    with Project.open(path, read_only=True) as project:
        assert project.integrity_ok()
        return dict(project.current_labels())


def _one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


# -- 1. export-model --overwrite replaces only what it made --------------------------------------


@pytest.fixture(scope="module")
def model_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed project with a stored logistic model on precomputed vectors."""
    from alapp.app.rounds import save_result, snapshot_of
    from alapp.loop.round import RoundRunner
    from alapp.store.demo import create_demo_project, demo_data_path
    from alapp.store.vectors import import_npy

    folder = tmp_path_factory.mktemp("model")
    with create_demo_project(folder / "m.alapp") as project:
        ids = project.item_ids()
        np.save(folder / "v.npy", np.random.default_rng(0).normal(size=(len(ids), 8))
                .astype(np.float32))
        import_npy(project, "v", folder / "v.npy", None)
        gold = {r["id"]: r["gold"] for r in map(json.loads, demo_data_path().read_text(
            "utf-8").splitlines())}
        for item in project.item_ids("pool")[:20]:
            project.label_item(item, gold[project.item(item).ext_id], "sim")
        project.update_settings(featurizer="vectors:v")
        save_result(project, RoundRunner().run(snapshot_of(project)))
    return folder / "m.alapp"


def _files(folder: Path) -> dict[str, bytes]:
    """The files under ``folder`` (SQLite's -wal and -shm, which readers leave, aside)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(("-wal", "-shm"))}


def test_export_model_overwrite_never_deletes_a_folder_it_did_not_make(
        model_project, tmp_path, capsys) -> None:
    home = tmp_path / "home"
    home.mkdir()
    project = home / "p.alapp"
    shutil.copy(model_project, project)
    (home / "thesis.txt").write_text("years of work")
    before = _files(home)
    for out in (home, home / "thesis.txt", tmp_path):  # the project's folder, a file, above it
        assert main(["export-model", str(project), str(out), "--overwrite"]) == 2
        line = _one_line(capsys.readouterr().err)
        assert "was not made by alapp export-model" in line
    assert _files(home) == before
    _labels(project)


def test_export_model_replaces_its_own_folder_only_once_the_new_one_is_complete(
        model_project, tmp_path, monkeypatch) -> None:
    from alapp.app import export_model as module
    from alapp.app.projects import export_model

    out = tmp_path / "model"
    export_model(model_project, out)
    marker = json.loads((out / "alapp-model.json").read_text("utf-8"))
    assert marker["format"] == "alapp-model/1"
    assert marker["files"] == ["README.md", "weights.safetensors"]
    (out / "README.md").write_text("an older export")
    export_model(model_project, out, overwrite=True)  # its own folder: replaced
    assert "alapp model version" in (out / "README.md").read_text("utf-8")
    previous = _files(out)

    def fail(folder: Path) -> None:  # the new folder is written, then the disk fills up
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(module, "_sync", fail)
    with pytest.raises(OSError):
        export_model(model_project, out, overwrite=True)
    assert _files(out) == previous  # the old export, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary folder left
    monkeypatch.undo()

    (out / "notes.txt").write_text("mine")  # something the user put there
    with pytest.raises(AlappError, match=r"did not write .*notes\.txt"):
        export_model(model_project, out, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"

    empty = tmp_path / "empty"
    empty.mkdir()
    export_model(model_project, empty, overwrite=True)  # an empty folder: nothing to lose
    assert (empty / "alapp-model.json").is_file()


# -- 2. outputs never replace the project, and are atomic -----------------------------------------


@posix_only
@pytest.mark.parametrize("alias", ["itself", "relative", "symlink", "hard link", "-wal", "-shm",
                                   ".lock"])
def test_export_never_replaces_the_project_under_any_name(
        tmp_path, monkeypatch, capsys, alias) -> None:
    path = _project(tmp_path)
    labels = _labels(path)
    monkeypatch.chdir(tmp_path)
    out = {"itself": path, "relative": Path("..") / tmp_path.name / path.name,
           "symlink": tmp_path / "link.jsonl", "hard link": tmp_path / "twin.jsonl",
           "-wal": Path(f"{path}-wal"), "-shm": Path(f"{path}-shm"),
           ".lock": Path(f"{path}.lock")}[alias]
    if alias == "symlink":
        out.symlink_to(path)
    if alias == "hard link":
        os.link(path, out)
    before = out.read_bytes() if out.exists() else None
    assert main(["export", str(path), str(out), "--format", "jsonl", "--overwrite"]) == 2
    assert "never replaces a project" in _one_line(capsys.readouterr().err)
    assert _labels(path) == labels
    assert (out.read_bytes() if out.exists() else None) == before


def test_export_is_fsynced_before_it_replaces_the_old_file(project, tmp_path, monkeypatch) -> None:
    from alapp.store import export
    from alapp.store.export import export_labels

    import_file(project, write(tmp_path / "in.txt", "one\ntwo\n"))
    project.label_item(project.item_ids()[0], "spam", "ann")
    out = write(tmp_path / "out.jsonl", "precious\n")
    steps: list[str] = []
    fsync, replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (steps.append("fsync"), fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (steps.append("replace"), replace(a, b))[1])
    export_labels(project, out, overwrite=True)
    assert "fsync" in steps and steps.index("fsync") < steps.index("replace")
    assert json.loads(out.read_text("utf-8"))["label"] == "spam"

    def boom(rows, stream):
        stream.write("half")
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(export._WRITERS, "jsonl", boom)
    out.write_text("precious\n")
    with pytest.raises(OSError):
        export_labels(project, out, overwrite=True)
    assert out.read_text() == "precious\n"  # never truncated before the new content is whole
    assert sorted(p.name for p in tmp_path.iterdir() if "out.jsonl" in p.name) == ["out.jsonl"]


def test_simulate_outputs_are_atomic_and_never_replace_their_inputs(
        tmp_path, monkeypatch, capsys) -> None:
    from alapp.app import simulate_file

    result = {"full_pool": {"accuracy": 0.9}, "strategies": {},
              "recommendation_detail": {"text": "random"}}
    monkeypatch.setattr(simulate_file, "simulate_file", lambda *a, **k: result)
    monkeypatch.setattr(simulate_file, "simulate_project", lambda *a, **k: result)
    data = write(tmp_path / "data.csv", "text,label\nwin money,spam\nsee you,ham\n")
    original = data.read_bytes()
    assert main(["simulate", str(data), "--json", str(data)]) == 2
    assert "never replaces" in _one_line(capsys.readouterr().err)
    assert data.read_bytes() == original
    path = _project(tmp_path)
    assert main(["simulate", "--project", str(path), "--json", str(path)]) == 2
    capsys.readouterr()
    _labels(path)
    out = tmp_path / "result.json"
    assert main(["simulate", str(data), "--json", str(out)]) == 0
    assert json.loads(out.read_text("utf-8")) == result
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_write_atomic_refuses_the_protected_file_by_identity(tmp_path) -> None:
    path = _project(tmp_path)
    if sys.platform != "win32":
        os.link(path, tmp_path / "other-name")
        with pytest.raises(AlappError, match="never replaces a project"):
            write_atomic(tmp_path / "other-name", "x", protect=(path,))
    write_atomic(tmp_path / "fine.txt", "x", protect=(path,))
    assert (tmp_path / "fine.txt").read_text() == "x"


# -- 3. read-only files and folders, a full disk, network filesystems ----------------------------

READ_ONLY_USER = """
import json, sys
from pathlib import Path
from alapp.cli import main
from alapp.core.errors import AlappError, ProjectReadOnlyError
from alapp.store.project import Project

path, out, data, secret = sys.argv[1:5]
result = {}
try:
    Project.open(secret, read_only=True).close()
    result["unreadable"] = "opened"
except AlappError as e:
    result["unreadable"] = str(e)
try:
    Project.open(path).close()
    result["writable"] = "opened"
except ProjectReadOnlyError as e:
    result["writable"] = str(e)
with Project.open(path, read_only=True) as project:
    result["labels"] = len(project.current_labels())
result["stats"] = main(["stats", path])
result["export"] = main(["export", path, out])
result["import"] = main(["import", path, data])
result["check"] = main(["check", path])
try:
    Project.create(Path(path).with_name("new.alapp"), ["a"]).close()
    result["create"] = "created"
except ProjectReadOnlyError as e:
    result["create"] = str(e)
print(json.dumps(result))
"""


def _unprivileged() -> Callable[[], None] | None:
    """Run the child so file permissions bind it. Root ignores them (CAP_DAC_OVERRIDE), so as
    root on Linux the child drops the capabilities that bypass them from its bounding set
    before it starts: then it is held to the owner's permission bits like anyone else, and
    the kernel, not a mock, refuses the writes. Anyone else: as is."""
    if not hasattr(os, "geteuid"):
        pytest.skip("POSIX permissions")
    if os.geteuid() != 0:
        return None
    if not sys.platform.startswith("linux"):
        pytest.skip("running as root where capabilities cannot be dropped")
    import ctypes

    def drop() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        for cap in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
            if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "cannot drop capabilities")

    return drop


@posix_only
@pytest.mark.parametrize("what", ["folder", "file"])
def test_read_only_project_is_refused_for_writing_and_opens_read_only(tmp_path, what) -> None:
    drop = _unprivileged()
    folder = tmp_path / "ro"
    folder.mkdir()
    path = _project(folder)
    labels = len(_labels(path))
    data = write(tmp_path / "more.txt", "one more\n")
    secret = tmp_path / "secret.alapp"
    shutil.copy(path, secret)
    secret.chmod(0)
    path.chmod(0o444)
    if what == "folder":
        folder.chmod(0o555)
    before = sorted(p.name for p in folder.iterdir())
    try:
        done = subprocess.run([sys.executable, "-c", READ_ONLY_USER, str(path),
                               str(tmp_path / "out.jsonl"), str(data), str(secret)],
                              preexec_fn=drop,
                              capture_output=True, text=True, cwd=ROOT, timeout=120)
        after = sorted(p.name for p in folder.iterdir())
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "read-only" in result["writable"] and "alapp stats" in result["writable"]
    assert "\n" not in result["writable"]
    assert result["labels"] == labels
    assert "permission denied" in result["unreadable"]
    assert "SQLite" not in result["unreadable"]
    assert (result["stats"], result["export"], result["check"]) == (0, 0, 0)
    assert result["import"] == 2
    assert "not an SQLite file" not in done.stderr and "Traceback" not in done.stderr
    assert "read-only" in done.stderr
    assert len((tmp_path / "out.jsonl").read_text("utf-8").splitlines()) == labels
    if what == "folder":
        assert after == before  # nothing made beside it
        assert "read-only" in result["create"]
    else:
        assert result["create"] == "created"


def test_full_disk_rolls_the_whole_write_back(tmp_path) -> None:
    path = _project(tmp_path, n=50, labeled=5)
    with Project.open(path, backup=False) as project:
        ids, events = project.item_ids(), project.events()
        pages = project._conn.execute("PRAGMA page_count").fetchone()[0]
        project._conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full now
        big = write(tmp_path / "big.txt", "".join(f"{'a long text ' * 40}{i}\n"
                                                  for i in range(3000)))
        with pytest.raises(DiskFullError) as caught:
            import_file(project, big)
        message = str(caught.value)
        assert "\n" not in message and "disk is full" in message and str(path) in message
        assert not project._conn.in_transaction
        assert project.item_ids() == ids and project.events() == events
        saved = 0
        with pytest.raises(DiskFullError):
            for i in range(100_000):
                project.label_item(ids[i % len(ids)], "spam", "ann", active_ms=i)
                saved += 1
        assert len(project.events()) == len(events) + saved  # the failed one: not at all
        project._conn.execute(f"PRAGMA max_page_count = {pages * 100}")  # space freed
        project.label_item(ids[0], "ham", "ann")
        assert project.integrity_ok()


def test_network_filesystem_warns_in_one_line(tmp_path, monkeypatch) -> None:
    from alapp.store import project as store

    real = Path(os.path.realpath(tmp_path))
    mounts = write(tmp_path / "mounts", "/dev/sda1 / ext4 rw 0 0\n"
                   f"server:/export {real} nfs4 rw 0 0\n"
                   f"server:/other {real}\\040x cifs rw 0 0\n")
    original = store._network_filesystem
    monkeypatch.setattr(store, "_network_filesystem",
                        lambda p, mounts=mounts: original(p, mounts))
    assert original(real / "a" / "p.alapp", mounts) == "nfs4"
    assert original(Path(f"{real} x") / "p.alapp", mounts) == "cifs"
    assert original(Path(f"{real}2") / "p.alapp", mounts) is None  # not under it: ext4
    path = tmp_path / "p.alapp"
    with pytest.warns(StorageWarning, match=r"network filesystem \(nfs4\)"):
        Project.create(path, ["a"]).close()
    with pytest.warns(StorageWarning, match="network filesystem") as caught:
        Project.open(path).close()
    assert all("\n" not in str(w.message) for w in caught)


# -- 4. damaged files: one line, `alapp check`, backups and restore -------------------------------


def _rootpage(path: Path, table: str) -> tuple[int, int]:
    conn = sqlite3.connect(path)
    try:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_schema WHERE name = ?",
                            (table,)).fetchone()[0]
    finally:
        conn.close()
    return (root - 1) * size, size


def _flip_bytes(path: Path) -> None:
    offset, _ = _rootpage(path, "label_events")
    data = bytearray(path.read_bytes())
    for i in range(offset, offset + 4):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _zero_page(path: Path) -> None:
    offset, size = _rootpage(path, "items")
    data = bytearray(path.read_bytes())
    data[offset:offset + size] = bytes(size)
    path.write_bytes(bytes(data))


def _cut_tail(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size * 2 // 5)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))


DAMAGE = {"flipped bytes": _flip_bytes, "zeroed page": _zero_page, "cut tail": _cut_tail,
          "zero length": _empty, "random bytes": _random_bytes}


@pytest.fixture(scope="module")
def sound(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _project(tmp_path_factory.mktemp("sound"), n=1500, labeled=400)


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_project_is_one_line_naming_it_and_the_backups(
        sound, tmp_path, capsys, damage) -> None:
    path = tmp_path / "p.alapp"
    shutil.copy(sound, path)
    DAMAGE[damage](path)
    for read_only in (True, False):
        with (pytest.raises(ProjectFormatError) as caught,  # ProjectDamagedError, mostly
              Project.open(path, read_only=read_only, backup=False) as project):
            project.stats()
            project.events()  # every event read
        message = str(caught.value)
        assert str(path) in message and "backup" in message and "\n" not in message
    with pytest.raises(ProjectDamagedError):  # for writing: the backup due reads every page
        Project.open(path).close()
    assert not backup.list_backups(path)  # and no damaged copy among the backups
    assert main(["stats", str(path)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert str(path) in line and ("backup" in line or "damaged" in line)
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "damaged" in out and "alapp backups" in out


def test_check_passes_a_sound_project_read_only(sound, capsys) -> None:
    before = sound.stat().st_mtime_ns
    assert main(["check", str(sound)]) == 0
    assert "ok" in capsys.readouterr().out
    assert sound.stat().st_mtime_ns == before


def test_backups_at_open_hourly_and_the_newest_five_kept(tmp_path, monkeypatch) -> None:
    path = _project(tmp_path, n=30, labeled=3)
    assert backup.list_backups(path) == []  # created just now: nothing to lose yet
    Project.open(path, read_only=True).close()
    assert backup.list_backups(path) == []  # reading makes none
    path.chmod(0o600)  # private data
    Project.open(path).close()
    [first] = backup.list_backups(path)
    assert first.path.parent == tmp_path / "p.alapp.backups"
    if sys.platform != "win32":
        assert first.path.stat().st_mode & 0o777 == 0o600  # private backups
    assert first.path.name.startswith("p-") and first.path.suffix == ".alapp"
    assert _labels(first.path) == _labels(path)  # a complete project, opens as it is
    Project.open(path).close()
    assert len(backup.list_backups(path)) == 1  # the newest is not an hour old
    monkeypatch.setattr(backup, "BACKUP_AGE_S", 0.0)
    for _ in range(7):
        Project.open(path).close()
    kept = backup.list_backups(path)
    assert len(kept) == backup.KEEP == 5
    # newest first (several may share a second: then the later one carries "-2", "-3", ...)
    assert [b.created for b in kept] == sorted((b.created for b in kept), reverse=True)
    assert not [p for p in (tmp_path / "p.alapp.backups").iterdir() if p.name.startswith(".")]


def test_the_writer_backs_up_every_so_many_decisions(tmp_path, monkeypatch) -> None:
    from alapp.app.writer import ProjectWriter

    assert backup.BACKUP_EVERY == 200
    monkeypatch.setattr(backup, "BACKUP_EVERY", 25)
    path = _project(tmp_path, n=60, labeled=0)
    writer = ProjectWriter(path)  # opening: the first backup
    ids = writer.call(lambda p: p.item_ids())
    for item in ids[:30]:
        writer.call(lambda p, item=item: p.label_item(item, "spam", "ann"))
    writer.close()
    newest, first = backup.list_backups(path)
    assert len(_labels(first.path)) == 0 and len(_labels(newest.path)) >= 25


def test_restore_keeps_the_current_file_and_refuses_while_open(tmp_path, capsys) -> None:
    path = _project(tmp_path, n=20, labeled=2)
    assert main(["backups", str(path), "--now"]) == 0
    [made] = backup.list_backups(path)
    good = _labels(path)
    with Project.open(path) as project:
        project.label_item(project.item_ids()[10], "spam", "oops")
    later = _labels(path)
    capsys.readouterr()
    assert main(["backups", str(path)]) == 0
    assert made.path.name in capsys.readouterr().out
    with Project.open(path):  # a writer has it open
        assert main(["restore", str(path), made.path.name]) == 2
        assert "open in another alapp process" in _one_line(capsys.readouterr().err)
    assert _labels(path) == later
    assert main(["restore", str(path), made.path.name]) == 0
    assert _labels(path) == good
    [kept] = tmp_path.glob("p.alapp.before-restore-*")
    assert _labels(kept) == later  # the replaced file, kept whole


CRASHING_WRITER = """
import os, signal, sys
from alapp.store.project import Project
project = Project.open(sys.argv[1], backup=False)
for item in project.item_ids()[:5]:
    project.label_item(item, "ham", "crash")
os.kill(os.getpid(), signal.SIGKILL)  # its log is never folded into the file
"""


@posix_only
def test_restore_over_a_crashed_writer_keeps_its_log_with_the_kept_file(tmp_path) -> None:
    path = _project(tmp_path, n=20, labeled=0)
    Project.open(path).close()
    [made] = backup.list_backups(path)
    proc = subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(path)], cwd=ROOT,
                          timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert Path(f"{path}-wal").stat().st_size > 0  # five acknowledged labels live there
    kept = backup.restore(path, made.path)
    assert kept is not None
    assert _labels(path) == {}  # the backup, and no stale log replayed over it
    assert sorted(_labels(kept).values()) == ["ham"] * 5  # the crashed writer's labels kept


def test_restore_refuses_a_damaged_backup_and_unknown_names(tmp_path) -> None:
    path = _project(tmp_path, n=20, labeled=2)
    bad = tmp_path / "bad.alapp"
    shutil.copy(path, bad)
    _zero_page(bad)
    with pytest.raises(AlappError, match="not a sound backup"):
        backup.restore(path, bad)
    with pytest.raises(AlappError, match="no such backup"):
        backup.restore(path, "p-20000101T000000Z.alapp")
    with pytest.raises(AlappError, match="the project itself"):
        backup.restore(path, path)
    assert len(_labels(path)) == 2


def test_restore_while_another_process_writes_is_refused(tmp_path) -> None:
    path = _project(tmp_path, n=20, labeled=1)
    with Project.open(path, backup=False) as project:
        made = backup.backup_now(project)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom alapp.store.project import Project\n"
         "p = Project.open(sys.argv[1], backup=False)\nprint('open', flush=True)\n"
         "time.sleep(60)", str(path)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(ProjectLockedError, match="Nothing was restored"):
            backup.restore(path, made)
    finally:
        holder.kill()
        holder.wait()
    assert not list(tmp_path.glob("*.before-restore-*"))


def test_damage_found_while_writing_is_one_line_and_the_write_rolled_back(tmp_path) -> None:
    path = _project(tmp_path, n=200, labeled=10)
    _cut_tail(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", StorageWarning)
        with (pytest.raises(ProjectDamagedError, match="alapp backups"),
              Project.open(path, backup=False) as project):
            for item in project.item_ids()[::-1]:
                project.label_item(item, "spam", "ann")
