"""The command line: input checking of the batch commands and their error messages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

from salescope.cli.common import app
from salescope.data.demo import DemoCompany
from tests.cli_runner import run

HEADER = "customer_id,order_id,order_date,product_id,quantity\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_next_orders_without_quantity_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file lacking `quantity` exits non-zero naming the column, and leaves no output."""
    orders = write(
        tmp_path / "o.csv", "customer_id,order_id,order_date,product_id\nc,o,2024-01-01,p\n"
    )
    out = tmp_path / "out.csv"
    result = run(capsys, "next-orders", "--orders", str(orders), "--out", str(out))
    assert result.code != 0
    assert "'quantity'" in result.stderr
    assert "required column is missing" in result.stderr
    assert not out.exists()


def test_next_orders_reports_a_non_numeric_quantity_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A non-numeric quantity is reported with its line, column and value."""
    orders = write(tmp_path / "o.csv", HEADER + "c,o1,2024-01-01,p,2\nc,o2,2024-01-08,p,two\n")
    out = tmp_path / "out.csv"
    result = run(capsys, "next-orders", "--orders", str(orders), "--out", str(out))
    assert result.code == 1
    assert "line 3, column 'quantity': 'two' is not a number" in result.stderr
    assert not out.exists()


def test_next_orders_refuses_an_impossible_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """2024-13-45 is refused, in a file and as --as-of."""
    orders = write(tmp_path / "o.csv", HEADER + "c,o1,2024-13-45,p,2\n")
    result = run(capsys, "next-orders", "--orders", str(orders), "--out", str(tmp_path / "x"))
    assert result.code == 1
    assert "'2024-13-45' is not a real calendar date" in result.stderr
    good = write(tmp_path / "g.csv", HEADER + "c,o1,2024-01-01,p,2\n")
    result = run(
        capsys,
        "next-orders",
        "--orders",
        str(good),
        "--out",
        str(tmp_path / "x"),
        "--as-of",
        "2024-13-45",
    )
    assert result.code == 1
    assert "--as-of" in result.stderr
    assert not (tmp_path / "x").exists()


def test_problems_of_several_files_are_reported_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad orders and bad targets are both reported in one run."""
    orders = write(tmp_path / "o.csv", HEADER + "c,o1,2024-01-01,p,-1\n")
    targets = write(tmp_path / "t.csv", "customer_id,order_date\nc,soon\n")
    result = run(
        capsys,
        "next-orders",
        "--orders",
        str(orders),
        "--targets",
        str(targets),
        "--out",
        str(tmp_path / "x"),
    )
    assert result.code == 1
    assert "o.csv, line 2, column 'quantity'" in result.stderr
    assert "t.csv, line 2, column 'order_date'" in result.stderr


def test_next_orders_writes_the_contract_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """next-orders on a small history writes every target's lines with the contract columns."""
    rows = "".join(
        f"c{c},o{c}-{w},2024-{1 + w // 4:02d}-{1 + 7 * (w % 4):02d},p{(c + k) % 7},{1 + k}\n"
        for c in range(6)
        for w in range(12)
        for k in range(3)
    )
    orders = write(tmp_path / "o.csv", HEADER + rows)
    targets = write(tmp_path / "t.csv", "customer_id,order_date\nc1,2024-04-02\nnew,2024-04-02\n")
    out = tmp_path / "next.csv"
    result = run(
        capsys,
        "next-orders",
        "--orders",
        str(orders),
        "--targets",
        str(targets),
        "--out",
        str(out),
        "--mode",
        "rank",
        "--top",
        "5",
    )
    assert result.code == 0, result.stderr
    header = out.read_text().splitlines()[0]
    assert header.startswith(
        "customer_id,rank,product_id,kind,probability,quantity,promotion_id,reason"
    )
    assert len(out.read_text().splitlines()) == 1 + 2 * 5


def test_assign_names_an_unknown_rep(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A customer naming a rep that is not in the reps file is refused with its line."""
    reps = write(
        tmp_path / "reps.csv", "rep_id,latitude,longitude,capacity_minutes\nr1,45,10,600\n"
    )
    customers = write(
        tmp_path / "c.csv",
        "customer_id,latitude,longitude,workload_minutes,rep_id\na,45,10,30,r1\nb,45,10,30,r9\n",
    )
    result = run(
        capsys,
        "assign",
        "--reps",
        str(reps),
        "--customers",
        str(customers),
        "--out",
        str(tmp_path / "a.csv"),
    )
    assert result.code == 1
    assert "c.csv, line 3, column 'rep_id': 'r9' is not a known rep" in result.stderr


def test_usage_errors_exit_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A missing required option is a usage error (status 2)."""
    assert run(capsys, "next-orders").code == 2


def test_train_then_next_orders_from_the_model_gives_the_lines_of_a_fresh_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], demo_company: DemoCompany
) -> None:
    """`train` writes a model folder; `next-orders --model` writes the very lines that
    `next-orders --orders` on the same data writes, without the history; a folder that is
    not a model is refused naming --model, and nothing is written."""
    company = demo_company
    orders = tmp_path / "orders.parquet"
    company.tables["orders"].write_parquet(orders)
    model = tmp_path / "model"
    result = run(capsys, "train", "--orders", str(orders), "--model-out", str(model))
    assert result.code == 0, result.stderr
    assert (model / "manifest.json").is_file()
    assert "Usual lines ranked by" in result.stdout
    fresh, served = tmp_path / "fresh.csv", tmp_path / "served.csv"
    assert run(capsys, "next-orders", "--orders", str(orders), "--out", str(fresh)).code == 0
    result = run(capsys, "next-orders", "--model", str(model), "--out", str(served))
    assert result.code == 0, result.stderr
    assert "Engine read from" in result.stdout
    assert fresh.read_text() == served.read_text()

    result = run(capsys, "next-orders", "--model", str(tmp_path), "--out", str(tmp_path / "x"))
    assert result.code == 1
    assert "--model" in result.stderr and "not a model folder" in result.stderr
    assert not (tmp_path / "x").exists()
    result = run(capsys, "next-orders", "--out", str(tmp_path / "x"))
    assert result.code == 1
    assert "--orders" in result.stderr and "--model" in result.stderr
    result = run(capsys, "train", "--orders", str(orders), "--model-out", str(fresh))
    assert result.code == 1
    assert "--model-out" in result.stderr and "names a file" in result.stderr


def test_a_field_error_is_reported_under_the_commands_own_names() -> None:
    """The command line names a service's field by the file given for it, else by its
    option; the fields a message names become options too."""
    from salescope.cli.common import as_input_error
    from salescope.domain.errors import FieldError

    empty = FieldError("holds no order lines", "orders")
    assert str(as_input_error(empty, {"orders": Path("o.csv")})).endswith(
        "o.csv: holds no order lines"
    )
    top = FieldError("must be at least 1", "as_of", value="0")
    assert "--as-of: '0' must be at least 1" in str(as_input_error(top, {}))
    both = FieldError("with {field:model} needs {field:orders} too", "promotions")
    assert "--promotions: with --model needs --orders too" in str(as_input_error(both, {}))


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The path of every command and group under ``group`` (Typer's own Click groups)."""
    for name, command in group.commands.items():
        yield (*path, name)
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))


def test_every_help_text_is_shown_whole(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--help`` of every command shows its help and each option's as written: brackets are
    text (``salescope[spark]``, ``[coverage]`` of a TOML file), not markup Rich would drop."""
    monkeypatch.setenv("COLUMNS", "400")
    root = typer.main.get_command(app)
    checked = 0
    for path in _commands(root):
        command: Any = root
        for name in path:
            command = command.commands[name]
        result = run(capsys, *path, "--help")
        assert result.code == 0, (path, result.stderr)
        shown = " ".join(result.stdout.replace("│", " ").split())
        texts = [command.help, *(getattr(param, "help", None) for param in command.params)]
        for text in texts:
            if text:
                assert " ".join(text.replace("\\[", "[").split()) in shown, (path, text)
                checked += 1
    assert checked > 50


def test_a_sampled_model_scores_every_customer_from_the_orders_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], demo_company: DemoCompany
) -> None:
    """`train --sample 0.5` learns from half of the customers; `next-orders --model --orders`
    scores the other half from their own orders (usual lines of what they bought), says how
    many it scored so; orders missing a column, or targets dated before the orders' end, are
    refused naming the file, and nothing is written."""
    import polars as pl

    from salescope.compute.backend import sample_customers

    orders = demo_company.tables["orders"]
    source = tmp_path / "orders.parquet"
    orders.write_parquet(source)
    model = tmp_path / "model"
    trained = run(
        capsys, "train", "--orders", str(source), "--sample", "0.5", "--model-out", str(model)
    )
    assert trained.code == 0, trained.stderr
    sampled = set(sample_customers(orders, 0.5)["customer_id"])
    others = set(orders["customer_id"]) - sampled
    assert sampled and others

    alone = tmp_path / "alone.csv"
    assert run(capsys, "next-orders", "--model", str(model), "--out", str(alone)).code == 0
    assert set(pl.read_csv(alone)["customer_id"]) == sampled

    out = tmp_path / "lines.csv"
    result = run(
        capsys, "next-orders", "--model", str(model), "--orders", str(source), "--out", str(out)
    )
    assert result.code == 0, result.stderr
    assert f"{len(sampled) + len(others):,} customers scored from the orders read" in (
        result.stdout
    )
    assert f"({len(others):,} the engine had not learned from)" in result.stdout
    lines = pl.read_csv(out)
    usual = lines.filter(pl.col("kind") == "usual")
    assert set(usual["customer_id"]) >= others  # its own usual lines, not the never-seen answer
    bought = orders.select("customer_id", "product_id").unique()
    assert usual.join(bought, on=["customer_id", "product_id"], how="anti").height == 0

    bad = write(tmp_path / "o.csv", "customer_id,order_id,order_date,product\nc,o,2024-01-01,p\n")
    refused = tmp_path / "refused.csv"
    result = run(
        capsys, "next-orders", "--model", str(model), "--orders", str(bad), "--out", str(refused)
    )
    assert result.code == 1
    assert "o.csv" in result.stderr and "'product_id'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not refused.exists()
    last = orders["order_date"].max()
    targets = write(tmp_path / "t.csv", f"customer_id,order_date\nX1,2099-01-01\nX2,{last}\n")
    result = run(
        capsys,
        "next-orders",
        "--model",
        str(model),
        "--orders",
        str(source),
        "--targets",
        str(targets),
        "--out",
        str(refused),
    )
    assert result.code == 1
    assert "t.csv" in result.stderr and "line 3, column 'order_date'" in result.stderr
    assert "the targets are dated" in result.stderr and "Traceback" not in result.stderr
    assert not refused.exists()
