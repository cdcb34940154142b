"""`salescope feedback` from the command line: its report, its re-run, its input errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_runner import run
from tests.services.test_feedback import (
    MARCH,
    MARCH_ORDERS,
    ORDERS_HEADER,
    PROPOSALS_HEADER,
    write,
)


def test_feedback_prints_outcomes_acceptance_calibration_and_resting(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report shows the outcomes by kind, acceptance by kind and promotion, the
    calibration and resting; the same files again say nothing new."""
    proposals = write(tmp_path / "proposals.csv", PROPOSALS_HEADER, MARCH)
    orders = write(tmp_path / "orders.csv", ORDERS_HEADER, MARCH_ORDERS)
    args = ("feedback", "--proposals", str(proposals), "--orders", str(orders))
    result = run(capsys, *args, "--window-days", "7", "--rest-days", "30")
    assert result.code == 0, result.stderr
    text = result.stdout
    assert "3 proposals (6 lines): 3 stored now" in text
    assert "2 answered now, 0 answered before, 1 still pending" in text
    assert "within 7 days" in text
    assert "Outcomes recorded now" in text
    assert "(not proposed)" in text
    assert "PR1" in text
    assert "Acceptance calibration:" in text
    assert "rests 30 days" in text
    again = run(capsys, *args)
    assert again.code == 0, again.stderr
    assert "Nothing new" in again.stdout
    assert "Outcomes recorded: 0 lines" in again.stdout


def test_feedback_refuses_bad_input_with_file_line_and_column(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A proposals file without order_date and an order with a bad quantity exit with status
    1 and name the files, line and columns; nothing is stored."""
    proposals = write(
        tmp_path / "p.csv", "customer_id,rank,product_id,kind,probability,quantity\n", ""
    )
    orders = write(tmp_path / "o.csv", ORDERS_HEADER, "c1,o1,2024-03-01,p1,-2\n")
    result = run(capsys, "feedback", "--proposals", str(proposals), "--orders", str(orders))
    assert result.code == 1
    assert "p.csv, column 'order_date': required column is missing" in result.stderr
    assert "o.csv, line 2, column 'quantity'" in result.stderr
    assert not (data_dir / "salescope.db").exists()
    negative = run(
        capsys,
        "feedback",
        "--proposals",
        str(write(tmp_path / "good.csv", PROPOSALS_HEADER, MARCH)),
        "--orders",
        str(write(tmp_path / "good-orders.csv", ORDERS_HEADER, MARCH_ORDERS)),
        "--rest-days",
        "-5",
    )
    assert negative.code == 1
    assert "--rest-days" in negative.stderr
