"""The corpus of bad (and unusual but valid) inputs in tests/data/bad/: every case ends in
success or a clean refusal that names the file and the problem, with no traceback and nothing
left behind.

Each case is a folder with its files and ``case.toml``: ``about``; for a command, ``args``
(``{case}`` is the case folder, ``{out}`` an output folder that must stay empty on failure),
the expected ``exit`` status and ``stderr`` (texts the message must hold); for the reader
(``reader/``), the ``table`` and ``file`` to read and either ``stderr`` or the ``rows`` (and
``names``) expected, with an optional ``encoding``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from tests.cli_runner import run

from salescope.data.io import input_encoding, read_table
from salescope.domain.errors import InputError
from salescope.domain.schemas import TABLES

CORPUS = Path(__file__).with_name("bad")


def _cases(command: str) -> list[Any]:
    return [
        pytest.param(folder, id=folder.name)
        for folder in sorted((CORPUS / command).iterdir())
        if (folder / "case.toml").exists()
    ]


def _spec(folder: Path) -> dict[str, Any]:
    return tomllib.loads((folder / "case.toml").read_text(encoding="utf-8"))


def _no_partials(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".partial")]


COMMANDS = ("next-orders", "assign", "coverage", "feedback", "import")


def test_the_corpus_has_ten_cases_per_command_and_reader() -> None:
    """At least ten cases for each command and for the reader."""
    for command in (*COMMANDS, "reader"):
        assert len(_cases(command)) >= 10, command


@pytest.mark.parametrize("folder", [case for command in COMMANDS for case in _cases(command)])
def test_a_command_refuses_cleanly_or_succeeds(
    folder: Path,
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A corpus case exits as expected; a refusal names its file and problem, shows no
    traceback and leaves no output or temporary behind."""
    spec = _spec(folder)
    out = tmp_path / "out"
    args = [a.replace("{case}", str(folder)).replace("{out}", str(out)) for a in spec["args"]]
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    result = run(capsys, *args)
    assert result.code == spec["exit"], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    text = " ".join(result.stderr.split())
    for expected in spec.get("stderr", []):
        assert expected in text, f"{expected!r} not in {text!r}"
    if spec["exit"] != 0:
        assert not out.exists() or list(out.iterdir()) == []
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before
    assert _no_partials(tmp_path) == []
    assert _no_partials(data_dir) == []


@pytest.mark.parametrize("folder", _cases("reader"))
def test_the_reader_refuses_cleanly_or_reads(folder: Path) -> None:
    """A reader case is refused with its message, or read with the rows and names
    expected."""
    spec = _spec(folder)
    path = folder / spec["file"]
    with input_encoding(spec.get("encoding")):
        if "stderr" in spec:
            with pytest.raises(InputError) as caught:
                read_table(path, TABLES[spec["table"]])
            text = str(caught.value)
            assert str(path) in text
            for expected in spec["stderr"]:
                assert expected in text
            return
        frame = read_table(path, TABLES[spec["table"]])
    assert frame.height == spec["rows"]
    if "names" in spec:
        assert frame["name"].to_list() == spec["names"]
    assert not any("\ufffd" in str(v) for v in frame.row(0)) if frame.height else True
