"""Issue 19: a project's guidelines (Markdown) as a setting, and `alapp guidelines`: print, set
from a UTF-8 file, clear, write to a file; each bad input is one line and writes nothing."""

from __future__ import annotations

import pytest

from alapp.cli import main
from alapp.core.errors import AlappError
from alapp.core.settings import MAX_GUIDELINES, ProjectSettings, check_setting
from alapp.store.project import Project

RU_ZH = ("# Правила разметки\n\n- **Спорт**: матчи, команды\n- Сомневаетесь — пропустите (S)\n\n"
         "## 标注规则\n\n1. **体育**：比赛、球队\n2. 不确定时：标记 (F)\n")


@pytest.fixture
def project(tmp_path):
    path = tmp_path / "p.alapp"
    assert main(["init", str(path), "--labels", "Спорт,体育"]) == 0
    return path


def _stored(path) -> str:
    with Project.open(path, read_only=True, take_lock=False) as p:
        return p.settings().guidelines


def test_the_setting_takes_text_up_to_its_limit_and_refuses_nul_and_length_unquoted() -> None:
    assert ProjectSettings().guidelines == ""
    assert check_setting("guidelines", RU_ZH, []) is None
    assert check_setting("guidelines", "x" * MAX_GUIDELINES, []) is None
    long = check_setting("guidelines", "y" * (MAX_GUIDELINES + 1), [])
    assert long == ("guidelines are not allowed: 200,001 characters; guidelines hold at most "
                    "200,000")
    nul = check_setting("guidelines", "one\ntwo\0three", [])
    assert nul == "guidelines are not allowed: a NUL character on line 2; guidelines are text"
    assert check_setting("guidelines", 5, []) is not None
    with pytest.raises(AlappError, match="at most 200,000"):
        ProjectSettings(strategy="margin", guidelines="z" * (MAX_GUIDELINES + 1)).validate(
            strategies=["margin"])


def test_set_print_out_and_clear(project, tmp_path, capsys) -> None:
    source = tmp_path / "g.md"
    source.write_bytes(b"\xef\xbb\xbf" + RU_ZH.replace("\n", "\r\n").encode("utf-8"))  # BOM, CRLF
    assert main(["guidelines", str(project)]) == 0
    assert "no guidelines yet" in capsys.readouterr().err
    assert main(["guidelines", str(project), "--set", str(source)]) == 0
    assert f"set from {source} ({len(RU_ZH):,} characters)" in capsys.readouterr().out
    assert _stored(project) == RU_ZH  # the mark dropped, line ends as \n
    assert main(["guidelines", str(project)]) == 0
    assert capsys.readouterr().out == RU_ZH
    assert main(["config", str(project)]) == 0  # the settings list names it, not prints it
    config = capsys.readouterr().out
    assert f"guidelines = ({len(RU_ZH)} characters; alapp guidelines {project})" in config
    assert "Правила" not in config
    out = tmp_path / "out.md"
    assert main(["guidelines", str(project), "--out", str(out)]) == 0
    assert out.read_text("utf-8") == RU_ZH
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.md")]
    assert main(["guidelines", str(project), "--clear"]) == 0
    assert _stored(project) == ""
    assert main(["guidelines", str(project), "--out", str(tmp_path / "none.md")]) == 2
    assert "has no guidelines yet; nothing written" in capsys.readouterr().err
    assert not (tmp_path / "none.md").exists()


def test_out_refuses_an_existing_file_unless_overwrite_and_never_the_project(
        project, tmp_path, capsys) -> None:
    source = tmp_path / "g.md"
    source.write_text(RU_ZH, "utf-8")
    main(["guidelines", str(project), "--set", str(source)])
    out = tmp_path / "taken.md"
    out.write_text("keep me", "utf-8")
    capsys.readouterr()
    assert main(["guidelines", str(project), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{out}: already exists" in err
    assert out.read_text("utf-8") == "keep me"
    assert main(["guidelines", str(project), "--out", str(out), "--force"]) == 0
    assert out.read_text("utf-8") == RU_ZH
    out.write_text("again", "utf-8")
    assert main(["guidelines", str(project), "--out", str(out), "--overwrite"]) == 0
    assert out.read_text("utf-8") == RU_ZH
    before = project.read_bytes()
    assert main(["guidelines", str(project), "--out", str(project), "--force"]) == 2
    assert "never replaces a project" in capsys.readouterr().err
    assert project.read_bytes() == before
    assert main(["guidelines", str(project), "--out", str(tmp_path / "no" / "g.md")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["guidelines", str(project), "--force"]) == 2  # --force needs --out
    assert "--overwrite goes with --out" in capsys.readouterr().err


@pytest.mark.parametrize("content, problem", [
    (b"# ok\n\xff\xfe bad\n", "g.md, line 2: not UTF-8 text (byte 0xff at offset 5)"),
    ("# x\n" + "y" * MAX_GUIDELINES, "g.md: 200,004 characters; guidelines hold at most 200,000"),
    (b"a\nb\x00c\n", "g.md: a NUL character on line 2; guidelines are text"),
    (None, "g.md: no such file"),
])
def test_a_bad_file_is_one_line_naming_it_and_writes_nothing(
        project, tmp_path, capsys, content, problem) -> None:
    kept = tmp_path / "kept.md"
    kept.write_text("# Kept\n", "utf-8")
    main(["guidelines", str(project), "--set", str(kept)])
    source = tmp_path / "g.md"
    if content is not None:
        source.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    capsys.readouterr()
    assert main(["guidelines", str(project), "--set", str(source)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and problem in err, err
    assert "Traceback" not in err
    assert _stored(project) == "# Kept\n"


def test_set_and_clear_are_one_at_a_time(project, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["guidelines", str(project), "--set", str(tmp_path / "g.md"), "--clear"])
    assert "not allowed with" in capsys.readouterr().err


def test_guidelines_travel_with_the_settings_rows(project, tmp_path) -> None:
    source = tmp_path / "g.md"
    source.write_text(RU_ZH, "utf-8")
    main(["guidelines", str(project), "--set", str(source)])
    with Project.open(project, read_only=True, take_lock=False) as p:
        rows = p.settings().as_rows()
    assert rows["guidelines"] == RU_ZH
    assert ProjectSettings.from_rows(rows).guidelines == RU_ZH
