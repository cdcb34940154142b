"""`salescope coverage` end to end on the demo company's files."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import polars as pl
import pytest
from tests.cli_runner import run

from salescope.data.demo import DemoConfig, generate_demo
from salescope.services.coverage import CONTRACT_COLUMNS


@cache
def _company_files(root: str) -> dict[str, Path]:
    return generate_demo(DemoConfig.small(5)).write(Path(root), "csv")


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _company_files(str(tmp_path_factory.mktemp("demo")))


def _args(files: dict[str, Path], out: Path, customers: Path | None = None) -> list[str]:
    return [
        "coverage",
        "--customers",
        str(customers or files["customers"]),
        "--orders",
        str(files["orders"]),
        "--reps",
        str(files["reps"]),
        "--products",
        str(files["products"]),
        "--market",
        str(files["market"]),
        "--out",
        str(out),
    ]


def test_coverage_writes_the_contract_files_and_the_map(
    demo_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """customers.csv has the contract columns for every shop; assignments.csv holds the shops
    to add; segments.csv and the map are there."""
    out = tmp_path / "coverage"
    result = run(capsys, *_args(demo_files, out))
    assert result.code == 0, result.stderr
    customers = pl.read_csv(out / "customers.csv")
    assert customers.columns[: len(CONTRACT_COLUMNS)] == list(CONTRACT_COLUMNS)
    universe = pl.read_csv(demo_files["customers"])
    assert sorted(customers["customer_id"]) == sorted(universe["customer_id"])
    assert customers["potential"].null_count() == 0
    adds = customers.filter(pl.col("recommendation") == "add")
    assignments = pl.read_csv(out / "assignments.csv")
    assert assignments.columns == ["customer_id", "rep_id", "previous_rep_id", "distance_km"]
    assert sorted(assignments["customer_id"]) == sorted(adds["customer_id"])
    assigned = dict(assignments.select("customer_id", "rep_id").iter_rows())
    assert all(assigned[c] == r for c, r in adds.select("customer_id", "rep_id").iter_rows())
    segments = pl.read_csv(out / "segments.csv")
    assert {"segment", "segment_name", "definition", "customers"} <= set(segments.columns)
    assert set(customers["segment"].drop_nulls()) <= set(segments["segment"])
    png = out / "coverage_map.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_a_latitude_out_of_range_is_reported_with_its_line(
    demo_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A customer at latitude 95 exits 1 naming line, column and value; nothing is written."""
    customers = pl.read_csv(demo_files["customers"]).with_columns(
        pl.when(pl.int_range(pl.len()) == 3)
        .then(95.0)
        .otherwise(pl.col("latitude"))
        .alias("latitude")
    )
    bad = tmp_path / "customers.csv"
    customers.write_csv(bad)
    out = tmp_path / "coverage"
    result = run(capsys, *_args(demo_files, out, customers=bad))
    assert result.code == 1
    assert "line 5, column 'latitude': '95' is above the maximum 90" in result.stderr
    assert not out.exists()


def test_a_failure_leaves_no_file_half_written(
    demo_files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If drawing the map fails, no output file appears (not even the CSVs computed before),
    and the user sees one line, not a traceback."""
    from salescope.reports import maps

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no map today")

    monkeypatch.setattr(maps, "coverage_map", broken)
    out = tmp_path / "coverage"
    result = run(capsys, *_args(demo_files, out))
    assert result.code == 3
    assert "internal error (RuntimeError: no map today)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_the_summary_counts_recommendations_and_potential_covered(
    demo_files: dict[str, Path], tmp_path: Path
) -> None:
    """The service's summary lines give the counts per recommendation and the potential
    covered, consistent with customers.csv."""
    from salescope.services.coverage import check_coverage, do_coverage

    request = check_coverage(
        customers=demo_files["customers"],
        orders=demo_files["orders"],
        reps=demo_files["reps"],
        products=demo_files["products"],
        market=demo_files["market"],
    )
    out = tmp_path / "coverage"
    result = do_coverage(request, out)
    text = "\n".join(result.lines())
    customers = pl.read_csv(out / "customers.csv")
    adds = customers.filter(pl.col("recommendation") == "add").height
    assert f"add {adds:,}" in text
    assert "potential covered" in text
    assert result.counts["add"] == adds
    served = customers.filter(pl.col("status") == "served")
    share = served["potential"].sum() / customers["potential"].sum()
    assert result.summary["potential_covered_share"] == pytest.approx(share, rel=1e-6)
