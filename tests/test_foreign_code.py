"""Foreign code never runs: a model folder with custom code (``auto_map``, ``*.py`` files,
``trust_remote_code`` in a config, a tokenizer with its own code) or with weights that are not
safetensors (``pytorch_model.bin``, a pickle renamed ``model.safetensors``) is refused in one
line naming the folder and what was found, before transformers is asked to read anything.

The proof, for each refused folder: its Python modules and its pickle would create a marker
file if imported or unpickled, and the marker is absent afterwards; ``torch.load`` and the
transformers loaders are replaced by functions that fail the test if called at all.
"""

from __future__ import annotations

import ast
import builtins
import json
import pickle
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alapp.core.errors import AlappError
from alapp.ml.embedders import (
    HFEmbedder,
    check_model_folder,
    check_safetensors,
    make_embedder,
)

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

ALAPP = Path(__file__).resolve().parents[1] / "alapp"
LOADERS = ("AutoConfig", "AutoModel", "AutoModelForSequenceClassification", "AutoTokenizer")


class _Payload:
    """Unpickled, runs ``open(marker, "w")``: what a hostile pickle does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').write('unpickled')",)


def _module(marker: Path, name: str) -> str:
    """Python source that creates the marker when imported, whatever it is imported as."""
    return (f"open({str(marker)!r}, 'w').write('imported {name}')\n"
            "from transformers import BertConfig, BertModel, BertTokenizerFast\n"
            f"class Evil{name}(BertConfig if {name!r} == 'Config' else "
            f"BertTokenizerFast if {name!r} == 'Tokenizer' else BertModel):\n    pass\n")


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "foreign-code-ran"


@pytest.fixture
def folder(tmp_path: Path, tiny_bert: Path) -> Path:
    """A copy of the valid tiny BERT, to be spoiled by each test."""
    return Path(shutil.copytree(tiny_bert, tmp_path / "model"))


@pytest.fixture
def nothing_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """torch.load and every transformers loader alapp uses fail the test if called."""
    calls: list[str] = []

    def forbidden(what: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls.append(what)
            raise AssertionError(f"{what} was called on a folder that must be refused")
        return call

    monkeypatch.setattr(torch, "load", forbidden("torch.load"))
    for name in LOADERS:
        monkeypatch.setattr(getattr(transformers, name), "from_pretrained",
                            forbidden(f"{name}.from_pretrained"))
    return calls


def _edit_json(path: Path, **changes: Any) -> None:
    data = json.loads(path.read_text("utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data), encoding="utf-8")


def _with_auto_map(folder: Path, marker: Path) -> None:
    for name, kind in (("configuration_evil", "Config"), ("modeling_evil", "Model")):
        (folder / f"{name}.py").write_text(_module(marker, kind), encoding="utf-8")
    _edit_json(folder / "config.json", auto_map={"AutoConfig": "configuration_evil.EvilConfig",
                                                 "AutoModel": "modeling_evil.EvilModel"})


def _auto_map_only(folder: Path, marker: Path) -> None:
    """auto_map naming code elsewhere (another repository): no .py file here to spot."""
    _edit_json(folder / "config.json", auto_map={"AutoModel": "evil/repo--modeling.EvilModel"})


def _python_file(folder: Path, marker: Path) -> None:
    (folder / "modeling_bert.py").write_text(_module(marker, "Model"), encoding="utf-8")


def _python_file_in_a_subfolder(folder: Path, marker: Path) -> None:
    (folder / "code").mkdir()
    (folder / "code" / "helpers.py").write_text(_module(marker, "Model"), encoding="utf-8")


def _config_asks_for_remote_code(folder: Path, marker: Path) -> None:
    _edit_json(folder / "config.json", trust_remote_code=True)


def _tokenizer_auto_map(folder: Path, marker: Path) -> None:
    (folder / "tokenization_evil.py").write_text(_module(marker, "Tokenizer"), encoding="utf-8")
    _edit_json(folder / "tokenizer_config.json",
               auto_map={"AutoTokenizer": [None, "tokenization_evil.EvilTokenizer"]},
               tokenizer_class="EvilTokenizer")


def _tokenizer_auto_map_only(folder: Path, marker: Path) -> None:
    _edit_json(folder / "tokenizer_config.json",
               auto_map={"AutoTokenizer": [None, "evil/repo--tokenization.EvilTokenizer"]})


def _only_pytorch_bin(folder: Path, marker: Path) -> None:
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Payload(marker), protocol=4))


def _pickle_renamed(folder: Path, marker: Path) -> None:
    (folder / "model.safetensors").write_bytes(pickle.dumps(_Payload(marker), protocol=4))


def _torch_save_renamed(folder: Path, marker: Path) -> None:
    torch.save({"payload": _Payload(marker)}, folder / "model.safetensors")


def _shard_outside(folder: Path, marker: Path) -> None:
    (folder / "model.safetensors").rename(folder / "model-00001-of-00001.safetensors")
    (folder.parent / "elsewhere.safetensors").write_bytes(
        pickle.dumps(_Payload(marker), protocol=4))
    (folder / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"embeddings.word_embeddings.weight": "../elsewhere.safetensors"}}))


SPOILED = {
    "auto_map": (_with_auto_map, r"config\.json asks for custom code \('auto_map'\)"),
    "auto_map naming remote code": (_auto_map_only, r"config\.json asks for custom code"),
    "a .py file": (_python_file, r"holds Python code \(modeling_bert\.py\)"),
    "a .py file in a subfolder": (_python_file_in_a_subfolder, r"Python code \(code/helpers"),
    "config trust_remote_code": (_config_asks_for_remote_code, "'trust_remote_code'"),
    "tokenizer auto_map": (_tokenizer_auto_map,
                           r"tokenizer_config\.json asks for custom code \('auto_map'\)"),
    "tokenizer auto_map, code elsewhere": (_tokenizer_auto_map_only,
                                           r"tokenizer_config\.json asks for custom code"),
    "only pytorch_model.bin": (_only_pytorch_bin, r"no model\.safetensors.*pytorch_model\.bin"),
    "pickle renamed .safetensors": (_pickle_renamed, "not a safetensors file .*pickle"),
    "torch.save renamed .safetensors": (_torch_save_renamed, "not a safetensors file .*pickle"),
    "index naming a shard outside": (_shard_outside, "names '../elsewhere.safetensors'"),
}


def _entry_points(folder: Path) -> list[Callable[[], object]]:
    """Every way alapp is handed a model folder: the check (settings dialog, command line),
    an embedder featurizer, the fine-tuned classifier and exporting a fine-tuned model."""
    from alapp.app.export_model import _hf_folder
    from alapp.ml.finetune import TransformerClassifier

    return [lambda: check_model_folder(folder),
            lambda: HFEmbedder(folder),
            lambda: make_embedder(str(folder), ["hello"]),
            lambda: TransformerClassifier(["a", "b"], folder),
            lambda: _hf_folder(folder.parent / "export", b"", {"model_folder": str(folder)},
                               ["a", "b"])]


@pytest.mark.parametrize("case", list(SPOILED))
def test_spoiled_folders_are_refused_in_one_line_before_anything_runs(
        case: str, folder: Path, marker: Path, nothing_loads: list[str]) -> None:
    spoil, reason = SPOILED[case]
    spoil(folder, marker)
    modules_before = set(sys.modules)
    for attempt in _entry_points(folder):
        with pytest.raises(AlappError, match=reason) as refused:
            attempt()
        message = str(refused.value)
        assert "\n" not in message
        assert str(folder) in message  # the folder is named
    assert not marker.exists(), f"foreign code ran: {marker.read_text()}"
    assert nothing_loads == []
    assert not {m for m in set(sys.modules) - modules_before if "evil" in m}


def test_a_folder_spoiled_after_the_check_is_refused_when_loading(
        folder: Path, marker: Path, nothing_loads: list[str]) -> None:
    """The embedder loads lazily: the folder is checked again right before transformers."""
    embedder = HFEmbedder(folder)
    _with_auto_map(folder, marker)
    with pytest.raises(AlappError, match="auto_map"):
        embedder.embed(["hello"])
    assert not marker.exists() and nothing_loads == []


def test_the_payloads_are_real(tmp_path: Path) -> None:
    """The control: the pickle does create its marker when unpickled (here, on purpose)."""
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_Payload(control), protocol=4))
    assert control.read_text() == "unpickled"


def test_transformers_would_run_the_auto_map_code_if_asked(tmp_path: Path, tiny_bert: Path) -> None:
    """The control for the modules: transformers given trust_remote_code=True imports them
    (in a child process with its own module cache), so their absence above means something."""
    folder = Path(shutil.copytree(tiny_bert, tmp_path / "model"))
    control = tmp_path / "control"
    _with_auto_map(folder, control)
    script = ("import sys, transformers\n"
              "transformers.AutoConfig.from_pretrained(sys.argv[1], local_files_only=True, "
              "trust_remote_code=True)\n")
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", script, str(folder)], env=env, check=True,
                   capture_output=True, timeout=300)
    assert control.read_text() == "imported Config"


@pytest.mark.parametrize("content, reason", [
    (b"", "shorter than a header"),
    ((10_000).to_bytes(8, "little") + b"{}", "header length 10000 does not fit"),
    ((4).to_bytes(8, "little") + b"\xff\xfe{}", "header is not JSON"),
    ((2).to_bytes(8, "little") + b"[]", "not a JSON object"),
    ((2).to_bytes(8, "little") + b"{}", None),  # empty but well formed
])
def test_safetensors_header_checks(tmp_path: Path, content: bytes, reason: str | None) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    if reason is None:
        check_safetensors(path)
        return
    with pytest.raises(AlappError, match=reason):
        check_safetensors(path)


def test_tensor_offsets_must_lie_inside_the_file(tmp_path: Path) -> None:
    def file(end: int) -> Path:
        header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, end]}})
        raw = header.encode()
        path = tmp_path / f"{end}.safetensors"
        path.write_bytes(len(raw).to_bytes(8, "little") + raw + bytes(8))
        return path

    check_safetensors(file(8))
    with pytest.raises(AlappError, match="tensor 'w' lies outside the file"):
        check_safetensors(file(9))


def test_every_from_pretrained_in_alapp_refuses_remote_code_and_nothing_unpickles() -> None:
    """Statically: each ``from_pretrained`` call in alapp passes ``trust_remote_code=False``
    (never the prompt or the default), and no ``torch.load`` appears anywhere."""
    calls = 0
    for path in sorted(ALAPP.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "load" \
                    and isinstance(node.value, ast.Name) and node.value.id == "torch":
                pytest.fail(f"{path}:{node.lineno}: torch.load")
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "from_pretrained"):
                continue
            calls += 1
            trust = [k.value for k in node.keywords if k.arg == "trust_remote_code"]
            assert len(trust) == 1 and isinstance(trust[0], ast.Constant) \
                and trust[0].value is False, f"{path}:{node.lineno}: no trust_remote_code=False"
    assert calls >= 5  # embedder (2), fine-tuning (2), export (2)


def test_the_valid_folder_still_loads_without_torch_load(
        tiny_bert: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real tiny BERT passes the checks and embeds and fine-tunes, with torch.load
    failing if called, and every transformers loader told trust_remote_code=False."""
    from alapp.ml.finetune import TransformerClassifier

    def no_torch_load(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("torch.load was called")

    monkeypatch.setattr(torch, "load", no_torch_load)
    seen: list[tuple[str, Any]] = []
    for name in LOADERS:
        cls = getattr(transformers, name)
        original = cls.from_pretrained.__func__

        def spy(klass: Any, *args: Any, _original: Any = original, _name: str = name,
                **kwargs: Any) -> Any:
            seen.append((_name, kwargs.get("trust_remote_code", "absent")))
            return _original(klass, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(spy))

    check_model_folder(tiny_bert)
    vectors = HFEmbedder(tiny_bert).embed(["hello world", "abc"])
    assert vectors.shape == (2, 32)
    model = TransformerClassifier(["a", "b"], tiny_bert, epochs=1, device="cpu")
    model.fit(["hello", "world", "abc", "def"], ["a", "b", "a", "b"])
    assert model.predict_proba(["hello"]).shape == (1, 2)
    assert {name for name, _ in seen} >= {"AutoModel", "AutoModelForSequenceClassification",
                                          "AutoTokenizer"}
    assert all(trust is False for _, trust in seen), seen
