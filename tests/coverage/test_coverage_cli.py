"""`salescope coverage` end to end on the demo company's files."""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path

import polars as pl
import pytest
from tests.cli_runner import run
from tests.reading import read_inputs

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
        **read_inputs(
            customers=demo_files["customers"],
            orders=demo_files["orders"],
            reps=demo_files["reps"],
            products=demo_files["products"],
            market=demo_files["market"],
        )
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


# -- today's service, economics, inputs as real exports have them ------------------------------
def _service(files: dict[str, Path], out: Path, **paths: Path | None) -> pl.DataFrame:
    from salescope.coverage.params import load_config
    from salescope.services.coverage import check_coverage, do_coverage

    request = check_coverage(
        **read_inputs(
            customers=paths.get("customers") or files["customers"],
            orders=files["orders"],
            reps=files["reps"],
            products=files["products"],
            market=files["market"] if "market" not in paths else paths["market"],
            visits=paths.get("visits"),
        ),
        config=load_config(paths.get("config")),
    )
    do_coverage(request, out)
    return pl.read_csv(out / "customers.csv", infer_schema_length=None)


def test_todays_service_is_inferred_and_said_when_customers_do_not_give_it(
    demo_files: dict[str, Path], tmp_path: Path
) -> None:
    """Without interaction_mode and visits_per_month, every served shop gets today's mode and
    visits inferred from its rep and orders (field visits at 0.5, 1 or 2 a month), and the
    summary and the reasons say so."""
    export = tmp_path / "export.csv"
    pl.read_csv(demo_files["customers"]).drop("interaction_mode", "visits_per_month").write_csv(
        export
    )
    table = _service(demo_files, tmp_path / "out", customers=export)
    served = table.filter(pl.col("status") == "served")
    assert served["current_mode"].null_count() == 0
    assert set(served["service_source"]) == {"inferred"}
    visited = served.filter(pl.col("current_mode") == "field")["current_visits_per_month"]
    assert set(visited.to_list()) <= {0.5, 1.0, 2.0}
    assert served["reason"].str.contains("inferred from its orders and its rep").all()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert "inferred from its orders and its rep" in summary["today_service"]
    prospects = table.filter(pl.col("status") == "prospect")
    assert prospects["current_mode"].null_count() == prospects.height


def test_todays_service_comes_from_the_visit_log_when_given(
    demo_files: dict[str, Path], tmp_path: Path
) -> None:
    """With --visits and no declared service, a shop's visits a month are its visits in the
    log over the last 12 months."""
    export = tmp_path / "export.csv"
    pl.read_csv(demo_files["customers"]).drop("interaction_mode", "visits_per_month").write_csv(
        export
    )
    table = _service(demo_files, tmp_path / "out", customers=export, visits=demo_files["visits"])
    visits = pl.read_csv(demo_files["visits"], try_parse_dates=True)
    as_of = dt.date.fromisoformat(
        json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))["as_of"]
    )
    start = max(as_of - dt.timedelta(days=365), visits["visit_date"].min())  # type: ignore[type-var]
    months = (as_of - start).days / 30.44
    expected = (
        visits.filter(pl.col("visit_date") >= start)
        .group_by("customer_id")
        .agg((pl.len() / months).alias("expected"))
    )
    logged = table.filter(pl.col("service_source") == "visit log").join(expected, on="customer_id")
    assert logged.height > 0
    assert (logged["current_visits_per_month"] - logged["expected"]).abs().max() < 0.01  # type: ignore[operator]


def test_economics_come_from_the_config_and_are_echoed(
    demo_files: dict[str, Path], tmp_path: Path
) -> None:
    """--config sets the economics: dearer rep time lowers every visited shop's margin today,
    and summary.json echoes the values in force."""
    config = tmp_path / "coverage.toml"
    config.write_text(
        "[coverage]\ncost_per_minute = 2.5\nmargin_rate = 0.35\nhorizon_years = 2\n"
        "[coverage.contact_minutes]\nfield = 55\n[assign]\ntime_limit_seconds = 5\n",
        encoding="utf-8",
    )
    base = _service(demo_files, tmp_path / "base")
    dear = _service(demo_files, tmp_path / "dear", config=config)
    summary = json.loads((tmp_path / "dear" / "summary.json").read_text(encoding="utf-8"))
    params = summary["params"]["coverage"]
    assert params["cost_per_minute"] == 2.5 and params["margin_rate"] == 0.35
    assert params["contact_minutes"]["field"] == 55 and params["contact_minutes"]["video"] == 20
    assert summary["params"]["assign"]["time_limit_seconds"] == 5
    assert "rep time 2.5/min" in summary["economics"]
    both = base.join(dear, on="customer_id", suffix="_dear").filter(
        (pl.col("status") == "served") & (pl.col("cost_today") > 0)
    )
    assert (both["cost_today_dear"] > both["cost_today"]).all()
    assert dear["reason"].str.contains("35 % margin").any()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[coverage]\ncost_per_mnute = 2\n", "cost_per_mnute"),
        ("[coverage]\ncost_per_minute = -1\n", "cost_per_minute"),
        ("[coverage.contact_minutes]\nteleport = 5\n", "contact_minutes.teleport"),
        ("[economics]\nx = 1\n", "economics"),
        ("[coverage\n", "not valid TOML"),
    ],
)
def test_a_bad_config_is_refused_naming_file_and_key(
    demo_files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    expected: str,
) -> None:
    """A config with an unknown key, a value out of range or broken TOML exits 1 naming the
    file and the key; nothing is written."""
    config = tmp_path / "coverage.toml"
    config.write_text(text, encoding="utf-8")
    out = tmp_path / "coverage"
    result = run(capsys, *_args(demo_files, out), "--config", str(config))
    assert result.code == 1
    assert "coverage.toml" in result.stderr and expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_a_missing_market_is_said_with_what_replaces_it(
    demo_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --market the command says that potential is our sales ÷ the assumed share."""
    args = _args(demo_files, tmp_path / "coverage")
    at = args.index("--market")
    result = run(capsys, *args[:at], *args[at + 2 :])
    assert result.code == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "no --market given" in text and "÷ 30 %" in text


def test_names_with_few_shared_first_words_and_no_coordinates_work(
    demo_files: dict[str, Path], tmp_path: Path
) -> None:
    """A name column where few names share a first word, and shops without coordinates, give
    recommendations (no crash) and the summary never claims the assignment engine is missing."""
    customers = pl.read_csv(demo_files["customers"])
    export = tmp_path / "export.csv"
    customers.with_columns(
        pl.format("Shop{} {}", pl.int_range(pl.len()), pl.lit("Main Street")).alias("name"),
        pl.lit(None, dtype=pl.Float64).alias("latitude"),
        pl.lit(None, dtype=pl.Float64).alias("longitude"),
    ).write_csv(export)
    table = _service(demo_files, tmp_path / "out", customers=export)
    assert table.height == customers.height
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert "not installed" not in summary["assignment"]
