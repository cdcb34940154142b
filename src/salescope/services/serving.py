"""The next-order engine in the app: the model in use and the suggested orders it serves.

``OrderEngine`` (one per app, on ``app.state``) loads the model in use (``services.models``:
the newest ready run) when the app starts, and again when a newer one is trained: a request
sees a new run at most ``check_seconds`` after it is recorded; the old model serves until the
new one is loaded. Beside the model it reads, from the table store, what suggestions show
(product names and prices, the promotions and the lifts learned from the history, the
objectives, each customer's ordering rhythm).

A suggested order is the engine's proposal for a customer and a date, made as ``next-orders``
makes it (``services.orders.propose``, proposal mode) with the resting products and the
acceptance calibration in force (``services.feedback.InForce``). It is cached per (customer,
date) and stays valid while the model and the feedback are the same: every recorded outcome
refits the calibrator, whose id is the feedback's version, so an order placed (which rests
what it turned down and refits the calibrator) is reflected in the next suggestion. The day's
suggestions of every customer are computed together in the background when a date is first
asked for (a few seconds on the demo company); until they are, a customer is computed alone
(tens of milliseconds: every customer's candidate rows are built once when the model is read,
``NextOrderModel.warm``).

Promotions: their budget is shared among the customers computed together (the day's batch);
a customer computed alone (a first request, a suggestion refreshed after feedback) is offered
a promotion whatever other customers were offered.

The uplift holdout: a stable share of the shops (``Settings.holdout_share``, by a hash of the
customer id) is shown no novelty; what they would have been shown is kept (``HeldOutLine``)
so that the shown novelties' uplift can be measured against it (``services.uplift``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from salescope.config import Settings
from salescope.domain.errors import FieldError, UnavailableError
from salescope.domain.statuses import LineKind, PromotionMechanic
from salescope.orders.acceptance import AcceptanceCalibrator
from salescope.orders.model import NextOrderModel, Promote
from salescope.orders.novelties import promote_with
from salescope.orders.persistence import ModelFolderError, load_model
from salescope.orders.promotions import PromotionModel
from salescope.services.calendar import Clock
from salescope.services.feedback import InForce, resting_at
from salescope.services.models import model_in_use
from salescope.services.orders import propose
from salescope.storage.db import Database
from salescope.storage.models import AcceptanceCalibration, ModelRun
from salescope.storage.tables import TableStore

log = logging.getLogger("salescope.serving")

HOLDOUT_SALT = "salescope-uplift-holdout-1"
"""The default salt of the holdout's hash (``Settings.holdout_salt``)."""
CACHE_SIZE = 200_000
"""Suggestions kept in memory (least recently used dropped first)."""
MAX_DAYS = 366
"""How far from today a suggested order may be dated."""


def in_holdout(customer_id: str, share: float, salt: str = HOLDOUT_SALT) -> bool:
    """Whether the shop is in the uplift holdout: a hash of the salt and its id below
    ``share``, so that the draw is random, stable, and a larger share only adds shops."""
    if share <= 0:
        return False
    digest = hashlib.sha256(f"{salt}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < share


# -- what suggestions show ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Promotion:
    """A promotion as a shop reads it, and what it does to a line's amount."""

    promotion_id: str
    mechanic: str | None
    value: float
    end_date: dt.date | None
    text: str

    def discount(self, quantity: float, unit_price: float | None) -> float:
        """Money off the line: a percentage of its amount (discount, bundle); none for free
        units (they come on top)."""
        if unit_price is None or self.mechanic not in (
            PromotionMechanic.DISCOUNT_PCT.value,
            PromotionMechanic.BUNDLE.value,
        ):
            return 0.0
        return round(quantity * unit_price * self.value / 100.0, 2)

    def free_units(self) -> float:
        return self.value if self.mechanic == PromotionMechanic.FREE_UNITS.value else 0.0


def promotion_text(mechanic: str | None, value: float, end: dt.date | None, promo_id: str) -> str:
    """'15 % off until 30 June', '2 free units until 30 June', 'bundle −10 % until 30 June'."""
    number = f"{value:.0f}" if value == round(value) else f"{value:.1f}"
    if mechanic == PromotionMechanic.DISCOUNT_PCT.value:
        what = f"{number} % off"
    elif mechanic == PromotionMechanic.FREE_UNITS.value:
        what = f"{number} free {'unit' if value == 1 else 'units'}"
    elif mechanic == PromotionMechanic.BUNDLE.value:
        what = f"bundle −{number} %"
    else:
        what = f"promotion {promo_id}"
    return what + (f" until {end.day} {end:%B %Y}" if end else "")


@dataclass(frozen=True, slots=True)
class Product:
    product_id: str
    name: str
    category: str | None
    unit_price: float | None
    pack_size: float | None


@dataclass(frozen=True, slots=True)
class Rhythm:
    """How a customer orders: its last order in the history and its usual interval."""

    last_order: dt.date
    interval_days: float | None
    orders: int


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Products (the ones we sell: own and active when the table says so), promotions and the
    customers' rhythm, from the table store."""

    products: dict[str, Product]
    offerable: frozenset[str]
    promotions: dict[str, Promotion]
    rhythm: dict[str, Rhythm]
    last_visit: dict[str, dt.date] = field(default_factory=dict)

    def name(self, product_id: str) -> str:
        product = self.products.get(product_id)
        return product.name if product is not None else product_id

    def price(self, product_id: str) -> float | None:
        product = self.products.get(product_id)
        return product.unit_price if product is not None else None

    def search(self, text: str, *, limit: int = 20) -> list[Product]:
        """Offerable products whose id, name or category holds every word of ``text``."""
        words = [w for w in text.lower().split() if w]
        if not words:
            return []
        found = []
        for product_id in sorted(self.offerable):
            p = self.products[product_id]
            hay = f"{p.product_id} {p.name} {p.category or ''}".lower()
            if all(w in hay for w in words):
                found.append(p)
                if len(found) >= limit:
                    break
        return found


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def read_catalogue(store: TableStore) -> Catalogue:
    """The catalogue of the table store's current version."""
    products: dict[str, Product] = {}
    offerable: set[str] = set()
    frame = store.read("products")
    if frame is not None:
        for row in frame.iter_rows(named=True):
            pid = str(row["product_id"])
            products[pid] = Product(
                pid,
                _text(row.get("name")) or pid,
                _text(row.get("category")),
                _float(row.get("unit_price")),
                _float(row.get("pack_size")),
            )
            if row.get("own") is not False and row.get("active") is not False:
                offerable.add(pid)
    promotions: dict[str, Promotion] = {}
    promos = store.read("promotions")
    if promos is not None:
        for row in promos.iter_rows(named=True):
            pid = str(row["promotion_id"])
            value = _float(row.get("value")) or 0.0
            end = row.get("end_date")
            mechanic = _text(row.get("mechanic"))
            promotions[pid] = Promotion(
                pid, mechanic, value, end, promotion_text(mechanic, value, end, pid)
            )
    return Catalogue(products, frozenset(offerable), promotions, _rhythm(store), _visits(store))


def _visits(store: TableStore) -> dict[str, dt.date]:
    """Each customer's last visit in the visits table."""
    if "visits" not in store.names():
        return {}
    last = (
        store.scan("visits")
        .group_by("customer_id")
        .agg(pl.col("visit_date").max().alias("last"))
        .collect()
    )
    return {str(c): d for c, d in last.iter_rows() if d is not None}


def _rhythm(store: TableStore) -> dict[str, Rhythm]:
    if "orders" not in store.names():
        return {}
    dates = (
        store.scan("orders")
        .select("customer_id", "order_date")
        .unique()
        .sort("customer_id", "order_date")
        .with_columns(
            (pl.col("order_date") - pl.col("order_date").shift(1).over("customer_id"))
            .dt.total_days()
            .alias("gap")
        )
        .group_by("customer_id")
        .agg(
            pl.col("order_date").max().alias("last"),
            pl.col("gap").drop_nulls().tail(12).median().alias("interval"),
            pl.len().alias("orders"),
        )
        .collect()
    )
    return {
        str(c): Rhythm(last, _float(interval), int(n)) for c, last, interval, n in dates.iter_rows()
    }


# -- suggestions -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SuggestedLine:
    rank: int
    product_id: str
    name: str
    kind: str
    probability: float
    quantity: float
    promotion_id: str | None
    promotion: str | None
    reason: str
    unit_price: float | None
    model_probability: float | None

    @property
    def novelty(self) -> bool:
        return self.kind != LineKind.USUAL.value


@dataclass(frozen=True, slots=True)
class Suggestion:
    """The suggested order of a customer for a date, and what it was computed with."""

    customer_id: str
    order_date: dt.date
    lines: tuple[SuggestedLine, ...]
    held_out: tuple[SuggestedLine, ...]  # novelties the holdout is not shown
    lapsed: bool
    holdout: bool
    run_id: int
    calibration_id: int | None
    model_cutoff: dt.date | None
    available: bool = True  # False: no model yet, an empty order to fill by hand

    @property
    def usual(self) -> list[SuggestedLine]:
        return [line for line in self.lines if not line.novelty]

    @property
    def novelties(self) -> list[SuggestedLine]:
        return [line for line in self.lines if line.novelty]

    def proposal_frame(self) -> pl.DataFrame:
        """The shown lines as a canonical ``proposals`` frame (what feedback matches)."""
        return _frame(self.customer_id, self.order_date, self.lines)

    def held_out_frame(self) -> pl.DataFrame:
        return _frame(self.customer_id, self.order_date, self.held_out)


PROPOSAL_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "rank": pl.Int64(),
    "product_id": pl.String(),
    "kind": pl.String(),
    "probability": pl.Float64(),
    "quantity": pl.Float64(),
    "promotion_id": pl.String(),
    "reason": pl.String(),
    "order_date": pl.Date(),
    "model_probability": pl.Float64(),
}


def empty_suggestion(customer_id: str, order_date: dt.date) -> Suggestion:
    """An order with nothing suggested (no model trained yet): filled by hand."""
    return Suggestion(customer_id, order_date, (), (), False, False, 0, None, None, False)


def _frame(customer_id: str, day: dt.date, lines: Iterable[SuggestedLine]) -> pl.DataFrame:
    rows = [
        (
            customer_id,
            line.rank,
            line.product_id,
            line.kind,
            line.probability,
            line.quantity,
            line.promotion_id,
            line.reason,
            day,
            line.model_probability,
        )
        for line in lines
    ]
    return pl.DataFrame(rows, schema=PROPOSAL_SCHEMA, orient="row")


@dataclass
class Live:
    """The model in use, loaded, with what its suggestions need."""

    run_id: int
    cutoff: dt.date
    trained_at: dt.datetime | None
    summary: dict[str, Any]
    model: NextOrderModel
    objectives: pl.DataFrame | None
    promote: Promote | None
    catalogue: Catalogue
    table_version: str | None
    targets: list[str]  # the customers of the day's batch
    loaded_at: float = field(default_factory=time.monotonic)


def load_live(run: ModelRun, settings: Settings) -> Live:
    """Read the run's model folder and the table store's catalogue, promotions (their lifts
    learned from the stored history) and objectives."""
    if not run.folder:
        raise UnavailableError(f"model {run.id} has no folder")
    try:
        model = load_model(Path(run.folder))
    except ModelFolderError as error:
        raise UnavailableError(f"the model in use cannot be read: {error}") from None
    model.warm()  # every customer's candidate rows, built here rather than in a request
    store = TableStore(settings.tables_dir)
    promote: Promote | None = None
    promotions = store.read("promotions")
    objectives = store.read("objectives")
    customers = store.read("customers")
    if promotions is not None and promotions.height and "orders" in store.names():
        orders = store.read("orders")
        assert orders is not None
        fitted = PromotionModel().fit(
            orders, promotions, products=store.read("products"), customers=customers
        )
        promote = promote_with(fitted)
    targets = set(model.codes_.customers["customer_id"].to_list())
    if customers is not None and "status" in customers.columns:
        served = customers.filter(pl.col("status") == "served")["customer_id"].to_list()
        targets |= set(served)
    return Live(
        run_id=run.id,
        cutoff=run.cutoff or model.cutoff_,
        trained_at=run.finished_at,
        summary=run.summary or {},
        model=model,
        objectives=objectives,
        promote=promote,
        catalogue=read_catalogue(store),
        table_version=store.version,
        targets=sorted(str(t) for t in targets),
    )


def _recommend(
    live: Live, customers: Sequence[str], order_date: dt.date, in_force: InForce
) -> pl.DataFrame:
    """The proposals of ``customers`` for ``order_date`` (``services.orders.propose``: the
    next-orders use case with the feedback in force, as ``next-orders`` makes them)."""
    targets = pl.DataFrame(
        {"customer_id": list(customers), "order_date": [order_date] * len(customers)},
        schema={"customer_id": pl.String, "order_date": pl.Date},
    )
    return propose(live.model, targets, in_force, objectives=live.objectives, promote=live.promote)


def _version(suggestion: Suggestion) -> tuple[int, int]:
    """(model run, acceptance calibration) a suggestion was computed with, comparable."""
    return suggestion.run_id, -1 if suggestion.calibration_id is None else suggestion.calibration_id


class OrderEngine:
    """The model in use and its suggestions, for the app's threads (see the module
    docstring)."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        clock: Clock,
        *,
        check_seconds: float = 5.0,
        warm: bool = True,
        loader: Callable[[ModelRun, Settings], Live] = load_live,
    ) -> None:
        self.settings = settings
        self.database = database
        self.clock = clock
        self.check_seconds = check_seconds
        self.warm_batches = warm
        self._loader = loader
        self._lock = threading.RLock()
        self._live: Live | None = None
        self._checked = -math.inf
        self._loading: threading.Thread | None = None
        self._cache: OrderedDict[tuple[str, dt.date], Suggestion] = OrderedDict()
        self._calibrators: dict[int | None, AcceptanceCalibrator] = {None: AcceptanceCalibrator()}
        self._warming: set[tuple[dt.date, int]] = set()
        self._batching = threading.Semaphore(1)
        self._shown: set[tuple[str, dt.date]] = set()
        self.batches = 0  # day batches computed (tests, the models page)
        self._store_catalogue: tuple[str | None, Catalogue] | None = None

    # -- the model in use ----------------------------------------------------------------------
    def live(self) -> Live:
        """The loaded model in use (UnavailableError when none is trained)."""
        now = time.monotonic()
        if now - self._checked >= self.check_seconds:
            self._checked = now
            self._refresh()
        live = self._live
        if live is None:
            raise UnavailableError(
                "no next-order model is trained yet: an administrator trains one on the "
                "Models page (or salescope models train)"
            )
        return live

    def catalogue(self) -> Catalogue:
        """The catalogue of the model in use, else of the table store as it is."""
        try:
            return self.live().catalogue
        except UnavailableError:
            store = TableStore(self.settings.tables_dir)
            version = store.version
            cached = self._store_catalogue
            if cached is None or cached[0] != version:
                cached = (version, read_catalogue(store))
                self._store_catalogue = cached
            return cached[1]

    def reload(self, *, wait: float | None = None) -> None:
        """Check for a newer model now (after a training in this process); with ``wait``,
        wait up to that many seconds for it to be loaded."""
        self._checked = -math.inf
        if wait is not None:
            self.live()
            loading = self._loading
            if loading is not None:
                loading.join(wait)

    def _newest_run(self) -> ModelRun | None:
        return self.database.transaction(model_in_use, readonly=True)

    def _refresh(self) -> None:
        run = self._newest_run()
        if run is None or (self._live is not None and self._live.run_id == run.id):
            return
        if self._live is None:
            with self._lock:
                if self._live is None or self._live.run_id != run.id:
                    self._install(self._loader(run, self.settings))
            return
        with self._lock:  # a newer run: loaded aside, the old one serves meanwhile
            if self._loading is not None and self._loading.is_alive():
                return
            self._loading = threading.Thread(
                target=self._load_aside, args=(run,), name="salescope-model-load", daemon=True
            )
            self._loading.start()

    def _load_aside(self, run: ModelRun) -> None:
        try:
            live = self._loader(run, self.settings)
        except Exception:  # logged; the model in use goes on serving
            log.exception("the new model %s could not be loaded", run.id)
            return
        with self._lock:
            self._install(live)

    def _install(self, live: Live) -> None:
        self._live = live
        self._cache.clear()
        self._warming.clear()
        log.info("model %s in use (orders before %s)", live.run_id, live.cutoff)
        if self.warm_batches:
            from salescope.services.calendar import next_delivery_date

            self.warm(next_delivery_date(self.clock.today()))

    # -- suggestions ---------------------------------------------------------------------------
    def calibration_id(self, session: Session) -> int | None:
        """The feedback's version: the newest fit of the acceptance calibrator."""
        return session.scalar(sa.select(sa.func.max(AcceptanceCalibration.id)))

    def _calibrator(self, session: Session, calibration_id: int | None) -> AcceptanceCalibrator:
        found = self._calibrators.get(calibration_id)
        if found is None:
            row = session.get(AcceptanceCalibration, calibration_id)
            found = (
                AcceptanceCalibrator.from_dict(row.parameters)
                if row is not None
                else AcceptanceCalibrator()
            )
            with self._lock:
                self._calibrators[calibration_id] = found
        return found

    def check_date(self, order_date: dt.date | None) -> dt.date:
        """The date asked for, or the next delivery date; within a year of today."""
        from salescope.services.calendar import next_delivery_date

        today = self.clock.today()
        if order_date is None:
            return next_delivery_date(today)
        if abs((order_date - today).days) > MAX_DAYS:
            raise FieldError(
                f"date {order_date} is more than a year away from today ({today})", "date"
            )
        return order_date

    def suggestion(self, session: Session, customer_id: str, order_date: dt.date) -> Suggestion:
        """The suggested order of ``customer_id`` for ``order_date`` (cached; see the module
        docstring). Access is the caller's business (``services.ordering``)."""
        live = self.live()
        calibration = self.calibration_id(session)
        key = (customer_id, order_date)
        with self._lock:
            found = self._cache.get(key)
            if found is not None and (found.run_id, found.calibration_id) == (
                live.run_id,
                calibration,
            ):
                self._cache.move_to_end(key)
                return found
        in_force = InForce(
            resting_at(session, order_date, [customer_id]), self._calibrator(session, calibration)
        )
        lines = _recommend(live, [customer_id], order_date, in_force)
        made = self._suggestion(live, customer_id, order_date, lines, calibration)
        self._put(made)
        if self.warm_batches:
            self.warm(order_date, calibration=calibration)
        return made

    def _put(self, suggestion: Suggestion, *, replace: bool = True) -> None:
        key = (suggestion.customer_id, suggestion.order_date)
        with self._lock:
            if self._live is None or suggestion.run_id != self._live.run_id:
                return
            old = self._cache.get(key)
            if not replace and old is not None and _version(old) >= _version(suggestion):
                return  # computed alone with the same or a newer feedback: keep it
            self._cache[key] = suggestion
            self._cache.move_to_end(key)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)

    def _suggestion(
        self,
        live: Live,
        customer_id: str,
        order_date: dt.date,
        lines: pl.DataFrame,
        calibration: int | None,
    ) -> Suggestion:
        catalogue = live.catalogue
        made: list[SuggestedLine] = []
        lapsed = False
        for row in lines.sort("rank").iter_rows(named=True):
            lapsed = lapsed or bool(row.get("lapsed"))
            promo_id = _text(row.get("promotion_id"))
            promo = catalogue.promotions.get(promo_id) if promo_id else None
            made.append(
                SuggestedLine(
                    rank=int(row["rank"]),
                    product_id=str(row["product_id"]),
                    name=catalogue.name(str(row["product_id"])),
                    kind=str(row["kind"]),
                    probability=float(row["probability"]),
                    quantity=float(row["quantity"]),
                    promotion_id=promo_id,
                    promotion=promo.text if promo else None,
                    reason=str(row.get("reason") or ""),
                    unit_price=catalogue.price(str(row["product_id"])),
                    model_probability=_float(row.get("model_probability")),
                )
            )
        holdout = in_holdout(customer_id, self.settings.holdout_share, self.settings.holdout_salt)
        shown = tuple(line for line in made if not (holdout and line.novelty))
        hidden = tuple(line for line in made if holdout and line.novelty)
        return Suggestion(
            customer_id=customer_id,
            order_date=order_date,
            lines=shown,
            held_out=hidden,
            lapsed=lapsed,
            holdout=holdout,
            run_id=live.run_id,
            calibration_id=calibration,
            model_cutoff=live.cutoff,
        )

    # -- the day's batch -----------------------------------------------------------------------
    def warm(self, order_date: dt.date, *, calibration: int | None = None) -> None:
        """Compute the suggestions of every customer for ``order_date`` in the background,
        once per date and model (after feedback, each customer is computed again alone when
        it is asked for)."""
        live = self._live
        if live is None:
            return
        with self._lock:
            if (order_date, live.run_id) in self._warming:
                return
            self._warming.add((order_date, live.run_id))
        if calibration is None:
            calibration = self.database.transaction(self.calibration_id, readonly=True)
        threading.Thread(
            target=self._batch,
            args=(live, order_date, calibration),
            name=f"salescope-warm-{order_date}",
            daemon=True,
        ).start()

    def _batch(self, live: Live, order_date: dt.date, calibration: int | None) -> None:
        try:
            with self._batching:  # one batch at a time: requests keep the other core
                self.compute_batch(live, order_date, calibration)
        except Exception:  # logged: requests compute their customer alone meanwhile
            log.exception("the suggestions of %s could not be computed together", order_date)

    def compute_batch(self, live: Live, order_date: dt.date, calibration: int | None) -> int:
        """Every target customer's suggestion for ``order_date``, computed together and
        cached (a fresher one is kept); how many."""

        def read(session: Session) -> InForce:
            return InForce(resting_at(session, order_date), self._calibrator(session, calibration))

        lines = _recommend(
            live, live.targets, order_date, self.database.transaction(read, readonly=True)
        )
        by_customer = lines.partition_by("customer_id", as_dict=True)
        empty = lines.clear()
        for customer in live.targets:
            part = by_customer.get((customer,), empty)
            self._put(
                self._suggestion(live, customer, order_date, part, calibration), replace=False
            )
        self.batches += 1
        return len(live.targets)

    def cached(self) -> int:
        """Suggestions in memory."""
        return len(self._cache)

    # -- what was shown ------------------------------------------------------------------------
    def was_shown(self, key: tuple[str, dt.date]) -> bool:
        return key in self._shown

    def mark_shown(self, key: tuple[str, dt.date]) -> None:
        with self._lock:
            self._shown.add(key)
