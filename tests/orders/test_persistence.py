"""A fitted engine written to a folder and read back serves the same lines, and a folder it
cannot trust is refused."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from salescope.data.demo import DemoCompany
from salescope.orders.model import EngineParams, NextOrderModel
from salescope.orders.persistence import (
    MANIFEST,
    ModelFolderError,
    fingerprint,
    load_model,
    read_manifest,
    save_model,
)


@pytest.fixture(scope="module")
def company(demo_company: DemoCompany) -> DemoCompany:
    return demo_company


@pytest.fixture(scope="module")
def fitted(demo_model: NextOrderModel) -> NextOrderModel:
    return demo_model


@pytest.fixture(scope="module")
def folder(
    fitted: NextOrderModel, company: DemoCompany, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("model") / "engine"
    return save_model(fitted, out, data=fingerprint(company.tables["orders"]))


def targets_of(company: DemoCompany) -> pl.DataFrame:
    """Every served customer's first order after the history, and one past date each."""
    future = company.truth["future_orders"]
    after = future.group_by("customer_id").agg(pl.col("order_date").min())
    inside = after.with_columns((pl.col("order_date") - pl.duration(days=60)).cast(pl.Date))
    return pl.concat([after, inside]).sort("customer_id", "order_date")


def test_a_model_read_back_gives_the_same_lines(
    fitted: NextOrderModel, folder: Path, company: DemoCompany
) -> None:
    """Rank and proposal lines of the read model equal those of the fitted one, for targets
    after the history and inside it."""
    loaded = load_model(folder)
    targets = targets_of(company)
    objectives = company.tables["objectives"]
    for mode in ("rank", "proposal"):
        fresh = fitted.recommend(targets, mode=mode, objectives=objectives)
        again = loaded.recommend(targets, mode=mode, objectives=objectives)
        assert fresh.height > 0
        assert fresh.equals(again), mode
    assert loaded.summary()["ranked_by"] == fitted.summary()["ranked_by"]


def test_kept_candidate_rows_serve_the_lines_a_request_builds(
    folder: Path, company: DemoCompany, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Targets after the history are served from the candidate rows the read model keeps
    (``warm``): the lines, the novelties and the range-extension list are those a request
    builds for itself from the history."""
    loaded = load_model(folder)
    loaded.warm()
    targets = targets_of(company)
    after = targets.filter(pl.col("order_date") >= loaded.cutoff_)
    objectives = company.tables["objectives"]
    kept = {
        mode: loaded.recommend(after, mode=mode, objectives=objectives)
        for mode in ("rank", "proposal")
    }
    unseen = loaded.unseen_ranking(after)
    monkeypatch.setattr(NextOrderModel, "_standing", lambda self, snap, targets: None)
    built = load_model(folder)
    for mode, lines in kept.items():
        assert lines.height > 0
        assert lines.equals(built.recommend(after, mode=mode, objectives=objectives)), mode
    assert unseen.equals(built.unseen_ranking(after))


def test_one_customer_at_a_time_gives_the_batch_lines(folder: Path, company: DemoCompany) -> None:
    """A request for one customer after the history gets the lines the day's batch gives it."""
    loaded = load_model(folder)
    after = targets_of(company).filter(pl.col("order_date") >= loaded.cutoff_).head(12)
    objectives = company.tables["objectives"]
    for mode in ("rank", "proposal"):
        batch = loaded.recommend(after, mode=mode, objectives=objectives)
        one = pl.concat(
            [
                loaded.recommend(after.slice(i, 1), mode=mode, objectives=objectives)
                for i in range(after.height)
            ]
        )
        assert one.equals(batch), mode


def test_the_manifest_says_what_was_learned_and_with_what(folder: Path) -> None:
    """The manifest holds the data's fingerprint, the versions, the parameters, the
    validation recall of each ranking and a checksum of every file."""
    manifest = read_manifest(folder)
    assert len(manifest["data"]["fingerprint"]) == 64
    assert {"salescope", "lightgbm", "polars"} <= set(manifest["versions"])
    assert manifest["params"]["lookback_days"] == EngineParams().lookback_days
    assert "recall@10" in manifest["summary"]["validation"]
    files = manifest["files"]
    assert "ranker.lgb.txt" in files or manifest["summary"]["ranked_by"] != "model"
    assert all((folder / name).is_file() for name in files)


def test_a_model_of_another_version_is_refused(folder: Path, tmp_path: Path) -> None:
    """A manifest written by another version: refused, and the message says to train again."""
    other = tmp_path / "old"
    other.mkdir()
    for path in folder.iterdir():
        (other / path.name).write_bytes(path.read_bytes())
    manifest = json.loads((other / MANIFEST).read_text())
    manifest["versions"]["salescope"] = "0.0.1"
    (other / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelFolderError, match=r"0\.0\.1.*Train the model again"):
        load_model(other)


def test_a_model_of_the_format_before_calibration_by_place_is_refused(
    folder: Path, tmp_path: Path, fitted: NextOrderModel
) -> None:
    """The ranker's calibration is read back band by band; a folder of format 1 (one curve
    for every place) is refused."""
    loaded = load_model(folder)
    assert loaded.ranking_.calibrator is not None and fitted.ranking_.calibrator is not None
    assert loaded.ranking_.calibrator.edges == fitted.ranking_.calibrator.edges
    for mine, theirs in zip(
        loaded.ranking_.calibrator.curves, fitted.ranking_.calibrator.curves, strict=True
    ):
        assert (mine.x == theirs.x).all() and (mine.y == theirs.y).all()
    other = tmp_path / "format1"
    other.mkdir()
    for path in folder.iterdir():
        (other / path.name).write_bytes(path.read_bytes())
    manifest = json.loads((other / MANIFEST).read_text())
    manifest["format"] = 1
    (other / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelFolderError, match="Train the model again"):
        load_model(other)


def test_a_damaged_or_missing_folder_is_refused(folder: Path, tmp_path: Path) -> None:
    """A changed file fails its checksum; a folder without manifest or no folder at all is
    said to be no model."""
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in folder.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    (copy / "lines.parquet").write_bytes(b"not parquet")
    with pytest.raises(ModelFolderError, match=r"lines\.parquet is damaged"):
        load_model(copy)
    (copy / MANIFEST).unlink()
    with pytest.raises(ModelFolderError, match="not a model folder"):
        load_model(copy)
    with pytest.raises(ModelFolderError, match="no such model folder"):
        load_model(tmp_path / "nothing")
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ModelFolderError, match="a-file is a file, not a model folder"):
        load_model(tmp_path / "a-file")


def test_fingerprint_changes_with_the_data(company: DemoCompany) -> None:
    """The fingerprint is the same for the same rows and differs when one quantity does."""
    orders = company.tables["orders"]
    changed = orders.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.col("quantity") + 1)
        .otherwise(pl.col("quantity"))
        .alias("quantity")
    )
    assert fingerprint(orders) == fingerprint(orders.clone())
    assert fingerprint(orders) != fingerprint(changed)
    assert fingerprint(orders, None) != fingerprint(orders)
