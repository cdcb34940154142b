"""A fitted next-order engine written to a folder and read back, for serving without refitting.

The folder holds:

* ``manifest.json`` — the format, the Salescope and library versions that wrote it, the
  fingerprint of the data it learned from, the parameters, what the fit did (training events,
  which ranking serves, validation recall of each) and the list of files with their SHA-256;
* ``*.lgb.txt`` — the LightGBM models in LightGBM's own text format;
* ``*.parquet`` — the frames (codes, lines, snapshot evidence, statistics);
* ``*.npz`` / ``*.npy`` — sparse matrices and arrays (customer vectors, neighbours, product
  similarities, calibration curves).

Everything the scoring reads is stored as it was computed, except the snapshot's window, which
is a filter of the stored lines; so a model read back gives the very lines of the one fitted in
memory. A folder written by another format or another version of Salescope is refused with a
message that says to train again. Writing is atomic: a temporary folder renamed into place.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from salescope import __version__
from salescope.orders.boosting import Isotonic, Platt, Trees
from salescope.orders.calibration import PlaceCalibration
from salescope.orders.examples import snapshot_lines
from salescope.orders.features import ProductStats
from salescope.orders.history import Codes
from salescope.orders.model import EngineParams, NextOrderModel, Snapshot
from salescope.orders.neighbours import TifuParams
from salescope.orders.novelties import AdoptionModel, AdoptionParams, Context, Evidence
from salescope.orders.quantities import QuantityModel, QuantityParams
from salescope.orders.ranker import Ranking

FORMAT = 2  # 2: the ranker's calibration has one curve per band of places
MANIFEST = "manifest.json"


class ModelFolderError(ValueError):
    """A model folder that cannot be used: missing, damaged, or written by another version."""


def fingerprint(*frames: pl.DataFrame | None) -> str:
    """A SHA-256 over the rows of the frames (None counts as absent): the data a model
    learned from."""
    digest = hashlib.sha256()
    for frame in frames:
        if frame is None:
            digest.update(b"-")
            continue
        digest.update(f"{frame.height}:{','.join(frame.columns)}".encode())
        if frame.height:
            hashes = frame.hash_rows(seed=0).to_numpy()
            digest.update(np.ascontiguousarray(hashes).tobytes())
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    import lightgbm
    import scipy
    import sklearn

    return {
        "salescope": __version__,
        "python": platform.python_version(),
        "polars": pl.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "lightgbm": lightgbm.__version__,
    }


class _Writer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: dict[str, str] = {}

    def _record(self, name: str) -> None:
        self.files[name] = hashlib.sha256((self.folder / name).read_bytes()).hexdigest()

    def frame(self, name: str, frame: pl.DataFrame | None) -> str | None:
        if frame is None:
            return None
        file = f"{name}.parquet"
        frame.write_parquet(self.folder / file, compression="zstd", statistics=False)
        self._record(file)
        return file

    def array(self, name: str, array: np.ndarray) -> str:
        file = f"{name}.npy"
        np.save(self.folder / file, array, allow_pickle=False)
        self._record(file)
        return file

    def sparse(self, name: str, matrix: Any) -> str | None:
        if matrix is None:
            return None
        file = f"{name}.npz"
        sp.save_npz(self.folder / file, sp.csr_matrix(matrix), compressed=True)
        self._record(file)
        return file

    def trees(self, name: str, trees: Trees | None) -> str | None:
        if trees is None:
            return None
        file = f"{name}.lgb.txt"
        (self.folder / file).write_text(trees.to_text(), encoding="utf-8")
        self._record(file)
        return file

    def curve(self, name: str, curve: Isotonic | None) -> str | None:
        if curve is None:
            return None
        return self.array(name, np.vstack([curve.x, curve.y]))

    def calibration(self, name: str, calibration: PlaceCalibration | None) -> dict[str, Any] | None:
        """The bands' edges and one curve file per band."""
        if calibration is None:
            return None
        return {
            "edges": list(calibration.edges),
            "curves": [self.curve(f"{name}_{i}", c) for i, c in enumerate(calibration.curves)],
        }


class _Reader:
    def __init__(self, folder: Path, files: dict[str, str]) -> None:
        self.folder = folder
        self.files = files

    def _path(self, file: str) -> Path:
        path = self.folder / file
        if file not in self.files or not path.is_file():
            raise ModelFolderError(f"{self.folder}: {file} is missing")
        if hashlib.sha256(path.read_bytes()).hexdigest() != self.files[file]:
            raise ModelFolderError(f"{self.folder}: {file} is damaged (its checksum differs)")
        return path

    def frame(self, file: str | None) -> pl.DataFrame | None:
        return None if file is None else pl.read_parquet(self._path(file))

    def need_frame(self, file: str | None) -> pl.DataFrame:
        frame = self.frame(file)
        if frame is None:
            raise ModelFolderError(f"{self.folder}: a table is missing from the manifest")
        return frame

    def array(self, file: str) -> np.ndarray:
        return np.asarray(np.load(self._path(file), allow_pickle=False))

    def sparse(self, file: str | None) -> Any:
        return None if file is None else sp.load_npz(self._path(file)).tocsr()

    def trees(self, file: str | None) -> Trees | None:
        return None if file is None else Trees.from_text(self._path(file).read_text("utf-8"))

    def curve(self, file: str | None) -> Isotonic | None:
        if file is None:
            return None
        x, y = self.array(file)
        return Isotonic(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))

    def calibration(self, state: dict[str, Any] | None) -> PlaceCalibration | None:
        if state is None:
            return None
        curves = tuple(self.curve(file) for file in state["curves"])
        if any(c is None for c in curves) or len(curves) != len(state["edges"]) + 1:
            raise ModelFolderError(f"{self.folder}: the ranker's calibration is incomplete")
        return PlaceCalibration(
            tuple(int(e) for e in state["edges"]), tuple(c for c in curves if c is not None)
        )


def _json_safe(value: Any) -> Any:
    """Dates as ISO strings, NaN as null, tuples as lists, dataclasses as dicts."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _json_safe(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def save_model(
    model: NextOrderModel, folder: Path, *, data: str, data_files: dict[str, str] | None = None
) -> Path:
    """Write the fitted ``model`` to ``folder`` (replaced atomically when it exists);
    ``data``: the fingerprint of the data it learned from; ``data_files``: where they were
    read (for the manifest). Returns the folder."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ModelFolderError(f"{folder} is a file, not a folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        manifest = _write(model, staging, data=data, data_files=data_files or {})
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            folder.rename(old)
            staging.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def _write(
    model: NextOrderModel, folder: Path, *, data: str, data_files: dict[str, str]
) -> dict[str, Any]:
    w = _Writer(folder)
    snap = model.snapshot_
    ranking = model.ranking_
    adoption = model.adoption_
    quantities = model.quantity_model_
    state = {
        "codes": {
            "customers": w.frame("customers", model.codes_.customers),
            "products": w.frame("products", model.codes_.products),
        },
        "lines": w.frame("lines", model.lines_),
        "first_seen": w.frame("first_seen", model.first_seen_),
        "first_order": w.frame("first_order", model.first_order_),
        "packs": w.frame("packs", model.packs_),
        "context": {
            "customers": w.frame("context_customers", model.context_.customers),
            "products": w.frame("context_products", model.context_.products),
            "geo": w.sparse("context_geo", model.context_.geo),
        },
        "snapshot": {
            "cutoff": snap.cutoff.isoformat(),
            "products": w.frame("snapshot_products", snap.products.frame),
            "season": w.frame("snapshot_season", snap.products.season),
            "neighbour": w.frame("snapshot_neighbour", snap.neighbour),
            "extra": w.frame("snapshot_extra", snap.extra),
            "matrix": w.sparse("snapshot_matrix", snap.matrix),
            "neighbours": w.array("snapshot_neighbours", snap.neighbours),
            "active": w.array("snapshot_active", snap.active),
            "items": w.sparse("snapshot_items", snap.items),
            "segments": w.frame("evidence_segments", snap.evidence.segments),
            "categories": w.frame("evidence_categories", snap.evidence.categories),
            "brands": w.frame("evidence_brands", snap.evidence.brands),
            "adoption": w.frame("evidence_adoption", snap.evidence.adoption),
            "bought": w.sparse("evidence_bought", snap.evidence.bought),
        },
        "development": w.frame("development", model.development_),
        "fallback": w.frame("fallback", model.fallback_),
        "ranking": {
            "scorer": ranking.scorer,
            "trees": w.trees("ranker", ranking.trees),
            "calibrator": w.calibration("ranker_calibration", ranking.calibrator),
            "alpha": ranking.alpha,
        },
        "quantities": {
            "trees": w.trees("quantities", quantities.correction_),
            "valid_wape_base": quantities.valid_wape_base_,
            "valid_wape_model": quantities.valid_wape_model_,
        },
        "adoption": {
            "trees": w.trees("adoption", adoption.trees_),
            "platt": None
            if adoption.platt_ is None
            else [adoption.platt_.slope, adoption.platt_.intercept],
            "summary": adoption.summary_,
        },
        "prior": w.curve("acceptance_prior", model.prior_),
        "cutoff": model.cutoff_.isoformat(),
        "spacing_days": model.spacing_,
        "tifu": dataclasses.asdict(model.tifu_),
        "tifu_recall": model.tifu_recall_,
        "development_rate": model.development_rate_,
        "share_bar": model.share_bar_,
        "inferred_packs": model.inferred_packs_,
        "fitted_on": model.fitted_on_,
        "coverage": model.coverage_,
        "fit_seconds": model.fit_seconds_,
    }
    manifest: dict[str, Any] = _json_safe(
        {
            "format": FORMAT,
            "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "versions": _versions(),
            "data": {"fingerprint": data, "files": data_files},
            "params": dataclasses.asdict(model.params_),
            "summary": model.summary(),
            "state": state,
            "files": w.files,
        }
    )
    return manifest


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a model folder, checked for format and version."""
    folder = Path(folder)
    path = folder / MANIFEST
    if folder.exists() and not folder.is_dir():
        raise ModelFolderError(
            f"{folder} is a file, not a model folder (salescope train writes one)"
        )
    if not folder.is_dir():
        raise ModelFolderError(f"{folder}: no such model folder (write one with salescope train)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelFolderError(f"{folder}: no {MANIFEST}: not a model folder") from exc
    except (OSError, ValueError) as exc:
        raise ModelFolderError(f"{folder}: {MANIFEST} cannot be read ({exc})") from exc
    if not isinstance(manifest, dict):
        raise ModelFolderError(f"{folder}: {MANIFEST} is not a model manifest")
    written = manifest.get("versions", {}).get("salescope", "?")
    if manifest.get("format") != FORMAT or written != __version__:
        raise ModelFolderError(
            f"{folder}: written by Salescope {written} (model format "
            f"{manifest.get('format')}); this is Salescope {__version__} (format {FORMAT}). "
            "Train the model again with this version: salescope train ..."
        )
    return manifest


def load_model(folder: Path) -> NextOrderModel:
    """The fitted engine stored in ``folder`` (``save_model``)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    try:
        return _read(folder, manifest)
    except ModelFolderError:
        raise
    except (KeyError, TypeError, ValueError, OSError) as exc:
        raise ModelFolderError(f"{folder}: the model cannot be read ({exc})") from exc


def _read(folder: Path, manifest: dict[str, Any]) -> NextOrderModel:
    r = _Reader(folder, manifest["files"])
    s = manifest["state"]
    model = NextOrderModel(EngineParams.from_dict(manifest["params"], str(folder)))
    model.codes_ = Codes(
        r.need_frame(s["codes"]["customers"]), r.need_frame(s["codes"]["products"])
    )
    model.lines_ = r.need_frame(s["lines"])
    model.line_index_ = model.lines_["c"].to_numpy().astype(np.int64)
    model.first_seen_ = r.need_frame(s["first_seen"])
    model.first_order_ = r.need_frame(s["first_order"])
    model.packs_ = r.frame(s["packs"])
    model.inferred_packs_ = int(s["inferred_packs"])
    model.context_ = Context(
        r.need_frame(s["context"]["customers"]),
        r.need_frame(s["context"]["products"]),
        r.sparse(s["context"]["geo"]),
    )
    model.cutoff_ = dt.date.fromisoformat(s["cutoff"])
    model.spacing_ = int(s["spacing_days"])
    model.tifu_ = TifuParams(**s["tifu"])
    model.tifu_recall_ = float("nan") if s["tifu_recall"] is None else float(s["tifu_recall"])
    model.bought_ = model.lines_.select("c", "p").unique().sort("c", "p")
    snap = s["snapshot"]
    cutoff = dt.date.fromisoformat(snap["cutoff"])
    model.snapshot_ = Snapshot(
        cutoff,
        snapshot_lines(model.lines_, cutoff, model.params_.lookback_days),
        ProductStats(r.need_frame(snap["products"]), r.need_frame(snap["season"])),
        r.need_frame(snap["neighbour"]),
        r.need_frame(snap["extra"]),
        r.sparse(snap["matrix"]),
        r.array(snap["neighbours"]),
        r.array(snap["active"]),
        r.sparse(snap["items"]),
        Evidence(
            r.need_frame(snap["segments"]),
            r.need_frame(snap["categories"]),
            r.need_frame(snap["brands"]),
            r.need_frame(snap["adoption"]),
            r.sparse(snap["bought"]),
        ),
    )
    model.development_ = r.need_frame(s["development"])
    model.fallback_ = r.need_frame(s["fallback"])
    ranking = s["ranking"]
    model.ranking_ = Ranking(
        ranking["scorer"],
        r.trees(ranking["trees"]),
        r.calibration(ranking["calibrator"]),
        float(ranking["alpha"]),
        manifest["summary"].get("validation", {}),
    )
    p = model.params_
    quantities = QuantityModel(dataclasses.replace(p.quantities, seed=p.seed, threads=p.threads))
    quantities.params_ = quantities.params or QuantityParams()
    quantities.correction_ = r.trees(s["quantities"]["trees"])
    quantities.source_ = "base" if quantities.correction_ is None else "corrected"
    quantities.valid_wape_base_ = _float(s["quantities"]["valid_wape_base"])
    quantities.valid_wape_model_ = _float(s["quantities"]["valid_wape_model"])
    model.quantity_model_ = quantities
    adoption = AdoptionModel(dataclasses.replace(p.adoption, seed=p.seed, threads=p.threads))
    adoption.params_ = adoption.params or AdoptionParams()
    adoption.trees_ = r.trees(s["adoption"]["trees"])
    platt = s["adoption"]["platt"]
    adoption.platt_ = None if platt is None else Platt(float(platt[0]), float(platt[1]))
    adoption.summary_ = dict(s["adoption"]["summary"])
    learned = adoption.trees_ is not None and adoption.platt_ is not None
    adoption.source_ = "learned" if learned else "stand_in"
    model.adoption_ = adoption
    model.prior_ = r.curve(s["prior"])
    model.development_rate_ = float(s["development_rate"])
    model.share_bar_ = float(s["share_bar"])
    model.fitted_on_ = dict(s["fitted_on"])
    model.coverage_ = list(s["coverage"])
    model.fit_seconds_ = float(s["fit_seconds"])
    return model


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)
