"""The next-order model: which products a customer's next order holds, and how many.

``NextOrderModel`` follows scikit-learn's shape: ``__init__`` stores ``EngineParams``; ``fit``
learns from an order history and returns ``self``; fitted state ends in ``_``.
``score_candidates`` gives, for target customers and dates, every candidate product with its
calibrated probability and quantity; ``salescope.orders.builder`` turns that into order lines.

Training learns from *events* (``orders.examples``): each customer's own last orders, each
with the history before it, and the customers' first orders after a few calendar cut-offs
where the data are dense; other customers' evidence comes from a snapshot at an anchor date
before each event. Each customer's latest event validates, for a share of the customers: it
stops the boosting, decides whether the learned ranker or a baseline serves
(``orders.ranker``), and calibrates the probabilities. Scoring works the same way: a target
dated after the history uses the snapshot at the end of it; a target dated inside it (a
backtest) uses snapshots before its date and only the customer's lines before it.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, Self, get_args

import numpy as np
import polars as pl

from salescope.domain.schemas import PROPOSAL_KEY
from salescope.domain.statuses import LineKind
from salescope.orders.baselines import last_order_validation, tune_tifu
from salescope.orders.builder import OrderMode, fill_candidates, to_lines
from salescope.orders.engine_params import ENGINE_GRID, EngineParams
from salescope.orders.examples import (
    adopted_within,
    assign_anchors,
    lines_before,
    snapshot_lines,
    target_anchors,
    training_events,
)
from salescope.orders.features import OwnHistory, build_candidates, own_history, product_stats
from salescope.orders.fresh import ROWS as FRESH_ROWS
from salescope.orders.fresh import split_planned
from salescope.orders.gating import merge_novelties
from salescope.orders.history import Codes, encode, order_table, rows_of
from salescope.orders.neighbours import (
    TifuParams,
    candidate_scores,
    item_similarity,
    nearest_neighbours,
    pair_scores,
    tifu_vectors,
    to_csr,
)
from salescope.orders.novelties import (
    AdoptionModel,
    Context,
    adoption_rows,
    build_context,
    context_evidence,
    development_rate,
    development_table,
    extra_candidates,
    fit_acceptance_prior,
    objective_pairs,
    pair_context,
    share_bar,
)
from salescope.orders.offers import (
    Acceptance,
    Promote,
    novelty_lines,
    rank_extensions,
    unseen_ranking,
)
from salescope.orders.quantities import QuantityModel, rounded
from salescope.orders.ranker import (
    EVENT,
    Ranking,
    fit_ranking,
    list_ranks,
)
from salescope.orders.requests import (
    attach_objectives,
    attach_segment,
    coded_targets,
    known_targets,
    lapsed_values,
    rounded_values,
    same_targets,
    with_scores,
)
from salescope.orders.served import Request, Standing, offered, standing
from salescope.orders.snapshot import EMPTY_SCORED, Scored, Snapshot
from salescope.orders.split import PINNED, CustomerRows, engine_of, split_engine
from salescope.orders.summary import summarise
from salescope.orders.training import (
    as_date,
    pack_sizes,
    popularity,
    recent_part,
    spacing_of,
    split_rows,
    thin,
)
from salescope.orders.windows import by_target
from salescope.progress import Progress, no_progress


class NextOrderModel:
    """Learns which products each customer's next order holds, with calibrated probabilities."""

    def __init__(
        self, params: EngineParams | None = None, *, keep_training_data: bool = False
    ) -> None:
        self.params = params
        self.keep_training_data = keep_training_data

    @property
    def params_(self) -> EngineParams:
        return self.params or EngineParams()

    # -- artefacts at an anchor ------------------------------------------------------------------
    def _snapshot(self, cutoff: dt.date, rows: np.ndarray | None = None) -> Snapshot:
        """What is known before ``cutoff``; ``rows``: the customers to serve (all of the
        window's by default)."""
        p = self.params_
        tifu = self.tifu_
        window = snapshot_lines(self.lines_, cutoff, p.lookback_days)
        orders = order_table(window)
        vectors = tifu_vectors(window, orders, tifu)
        shape = (self.codes_.n_customers, self.codes_.n_products)
        matrix = to_csr(vectors, "u", shape)
        present = window["c"].unique().sort().to_numpy().astype(np.int64)
        active = present if rows is None else np.unique(rows.astype(np.int64))
        neighbours = nearest_neighbours(matrix, tifu.k, metric=tifu.metric, rows=active)
        items = item_similarity(matrix, p.item_neighbours) if p.item_neighbours else None
        neighbour = (
            candidate_scores(matrix, neighbours, explore=p.explore, rows=active, items=items)
            .join(vectors, on=["c", "p"], how="left")
            .with_columns(pl.col("u").fill_null(0.0))
        )
        stats = product_stats(window, cutoff, self.first_seen_, self.packs_)
        extra = extra_candidates(
            window,
            cutoff,
            self.context_,
            pl.DataFrame({"c": active}).with_columns(pl.col("c").cast(pl.UInt32)),
            p.novelties,
            self.first_seen_,
        ).join(neighbour.select("c", "p"), on=["c", "p"], how="anti")
        extra = pair_scores(matrix, neighbours, active, extra, items=items)
        evidence = context_evidence(window, cutoff, self.context_)
        return Snapshot(
            cutoff,
            window,
            stats,
            neighbour.sort("c", "p"),
            extra.sort("c", "p"),
            matrix,
            neighbours,
            active,
            items,
            evidence,
        )

    def _candidates(
        self,
        snap: Snapshot,
        targets: pl.DataFrame,
        *,
        extra: pl.DataFrame | None = None,
        own: dict[int, OwnHistory] | None = None,
        request: Request | None = None,
    ) -> pl.DataFrame:
        """Features of every candidate of ``targets`` (``c, t``, one per customer), bucket by
        bucket, from each customer's lines before its date and the snapshot; with ``extra``
        (scored pairs the customers lack), of those pairs only. ``own``: the buckets' own
        histories, filled by the first call and reused by the next for the same targets;
        ``request``: the request's kept rows (``orders.served.Request``)."""
        p = self.params_
        kept = self._standing(snap, targets) if extra is None else None
        if kept is not None:
            return self._ranked(kept.rows(targets, request=request))
        if extra is None:
            neighbour_of = snap.neighbour_of
        else:
            extra = extra.sort("c", "p")
            index = extra["c"].to_numpy().astype(np.int64)

            def neighbour_of(customers: pl.Series) -> pl.DataFrame:
                return rows_of(extra, index, customers)

        lines = lines_before(self._lines_of(targets["c"]), targets, p.lookback_days)
        known = targets.select("c", "t").join(lines.select("c").unique(), on="c")
        n_buckets = max(1, -(-known.height // p.customers_per_bucket))
        parts = []
        for bucket in range(n_buckets):
            in_bucket = pl.col("c") % n_buckets == bucket
            mine = known.filter(in_bucket)
            history = lines.filter(in_bucket)
            if own is not None and bucket not in own:
                own[bucket] = own_history(history, snap.products, self.first_order_, self.tifu_)
            parts.append(
                build_candidates(
                    history,
                    mine,
                    snap.products,
                    neighbour_of(mine["c"]),
                    self.first_order_,
                    max_repeat=p.max_repeat,
                    repeat=extra is None,
                    tifu=self.tifu_,
                    own=None if own is None else own[bucket],
                )
            )
        if not parts:
            return pl.DataFrame()
        return self._ranked(pl.concat(parts, how="diagonal_relaxed"))

    def _ranked(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Candidates in a fixed row order (sampling and boosting are reproducible), with the
        baselines' own scores and each candidate's place among the customer's by them
        (``ranker.list_ranks``)."""
        return list_ranks(frame, self.tifu_.alpha)

    def _standing(self, snap: Snapshot, targets: pl.DataFrame) -> Standing | None:
        """The kept candidate rows (``orders.served``) when ``targets`` are after the history."""
        after = targets.height and self.cutoff_ <= targets["t"].min()  # type: ignore[operator]
        return self.warm() if after and snap is self.__dict__.get("snapshot_") else None

    def warm(self) -> Standing:
        """Build once the candidate rows kept for targets after the history (``orders.served``):
        a server calls it after reading the model, so that no request waits for it."""
        kept: Standing | None = self.__dict__.get("_kept")
        if kept is None or kept.snapshot is not self.snapshot_:
            kept = self.__dict__["_kept"] = standing(self, self.snapshot_)
        return kept

    def _lines_of(self, customers: pl.Series) -> pl.DataFrame:
        """The engine's lines of ``customers`` (codes)."""
        return rows_of(self.lines_, self.line_index_, customers)

    def rows_of(self, name: str, customers: pl.Series) -> pl.DataFrame:
        """The rows of ``customers`` in the fitted frame ``name`` (sorted by customer)."""
        frame: pl.DataFrame = getattr(self, name)
        indexes: dict[str, tuple[pl.DataFrame, np.ndarray]] = self.__dict__.setdefault(
            "_indexes", {}
        )
        known = indexes.get(name)
        if known is None or known[0] is not frame:
            known = (frame, frame["c"].to_numpy().astype(np.int64))
            indexes[name] = known
        return rows_of(frame, known[1], customers)

    def _labelled(self, snap: Snapshot, events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Candidates of ``events`` (``ev, c, o, t, valid``; one per customer) labelled with
        the event's order, and the extension candidates (for the adoption model) labelled the
        same way."""
        targets = events.select("c", "t")
        shared: dict[int, OwnHistory] = {}  # the own histories, for both kinds of candidates
        frame = self._candidates(snap, targets, own=shared)
        own = self._lines_of(events["c"])
        truth = own.join(events.select("c", "o"), on=["c", "o"])
        truth = truth.select("c", "p", pl.col("q").alias("q_actual"))
        sizes = truth.group_by("c").agg(pl.len().cast(pl.Float64).alias("n_true"))
        adopted, whole = adopted_within(own, events, self.params_.novelties.adoption_orders)
        tags = (
            events.select("c", EVENT, "valid")
            .join(sizes, on="c", how="left")
            .join(whole, on="c", how="left")
        )

        def label(candidates: pl.DataFrame) -> pl.DataFrame:
            return (
                candidates.join(truth, on=["c", "p"], how="left")
                .with_columns(pl.col("q_actual").is_not_null().cast(pl.Int8).alias("label"))
                .join(adopted, on=["c", "p"], how="left")
                .with_columns(pl.col("adopted").fill_null(0))
                .join(tags, on="c", how="left")
                .sort("c", "t", "p")  # joins do not keep row order; sampling and boosting need one
            )

        if frame.height == 0:
            return frame, frame
        frame = label(frame)
        adoption = self._adoption_frame(snap, frame, targets, label, own=shared)
        self.coverage_.append(
            {
                "anchor": snap.cutoff.isoformat(),
                "events": events.height,
                "positives": truth.height,
                "covered": int(frame["label"].sum()),
            }
        )
        return frame, adoption

    def _adoption_frame(
        self,
        snap: Snapshot,
        scored: pl.DataFrame,
        targets: pl.DataFrame,
        label: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
        objectives: pl.DataFrame | None = None,
        own: dict[int, OwnHistory] | None = None,
        request: Request | None = None,
    ) -> pl.DataFrame:
        """Extension candidates of ``targets`` with the adoption features: the extension rows
        of the main candidates ``scored``, the snapshot's extra pairs, and ``objectives``
        pairs (``c, p``) not among them; ``own``: the targets' own histories (``_candidates``);
        ``request``: the request's kept rows (``orders.served.Request``)."""
        novelty = self.params_.novelties
        extra = snap.extra_of(targets["c"])
        more = extra.clear()
        if objectives is not None and objectives.height:
            missing = (
                objectives.select("c", "p")
                .unique()
                .join(scored.select("c", "p"), on=["c", "p"], how="anti")
                .join(extra.select("c", "p"), on=["c", "p"], how="anti")
                .join(self.rows_of("bought_", targets["c"]), on=["c", "p"], how="anti")
            )
            if missing.height:
                more = pair_scores(
                    snap.matrix, snap.neighbours, snap.active, missing, items=snap.items
                )
        kept, both = self._standing(snap, targets), pl.concat([extra, more], how="diagonal_relaxed")
        if kept is not None and both.height:  # the kept rows, and the objectives' built
            built = self._candidates(snap, targets, extra=more) if more.height else None
            rows = self._ranked(kept.extension_rows(targets, built, request))
        else:
            rows = (
                self._candidates(snap, targets, extra=both, own=own)
                if both.height
                else pl.DataFrame()
            )
        if label is not None and rows.height:
            rows = label(rows)
        parts = [adoption_rows(scored, novelty.lapsed_days)]
        if rows.height:
            parts.append(rows)
        frame = pl.concat(parts, how="diagonal_relaxed")
        return by_target(pair_context(snap.evidence, self.context_, frame))

    # -- fitting ---------------------------------------------------------------------------------
    def fit(
        self,
        orders: pl.DataFrame,
        products: pl.DataFrame | None = None,
        *,
        customers: pl.DataFrame | None = None,
        cutoff: dt.date | None = None,
        progress: Progress = no_progress,
    ) -> Self:
        """Learn from canonical order lines (all before ``cutoff``, default: the day after the
        last order); ``products`` and ``customers`` (optional) give pack sizes, categories,
        margins, segments and coordinates to the novelties."""
        started = time.perf_counter()
        p = self.params_
        self._read(orders, products, customers, cutoff)
        progress("tuning the customer vectors (TIFU-KNN)", 0.02)
        seconds: dict[str, float] = {"reading": time.perf_counter() - started}
        clock = time.perf_counter()
        self.tifu_, self.tifu_recall_ = self._tuned_tifu()
        seconds["tuning"] = time.perf_counter() - clock
        clock = time.perf_counter()
        events, anchors = training_events(
            self.lines_, self.cutoff_, step_days=self.spacing_, params=p.events
        )
        self.coverage_: list[dict[str, Any]] = []
        frames, adoption = self._examples(events, progress)
        train, valid = split_rows(frames, p, thinned=True)
        adoption_train, adoption_valid = split_rows(adoption, p, learn_from_half=True)
        self.development_rate_ = development_rate(valid if valid.height else train)
        self.prior_ = fit_acceptance_prior(
            pl.concat(adoption, how="diagonal_relaxed").filter(pl.col("horizon"))
            if adoption
            else pl.DataFrame()
        )
        self.share_bar_ = share_bar(adoption_valid, p.novelties.explore_share)
        seconds["examples"] = time.perf_counter() - clock
        clock = time.perf_counter()
        if self.keep_training_data:
            self.training_data_ = (train, valid)
        self._learn(train, valid, adoption_train, adoption_valid, progress)
        seconds["learning"] = time.perf_counter() - clock
        clock = time.perf_counter()
        self.snapshot_ = self._snapshot(self.cutoff_)
        seconds["snapshot"] = time.perf_counter() - clock
        self.development_ = development_table(
            self.snapshot_.window, self.cutoff_, self.context_, p.novelties
        ).sort("c", "p")
        self.fallback_ = popularity(self.lines_, self.cutoff_, self.codes_.n_products)
        self.fitted_on_ = {
            "cutoff": self.cutoff_.isoformat(),
            "spacing_days": self.spacing_,
            "anchors": [a.isoformat() for a in anchors],
            "events": events.height,
            "validation_events": int(events["valid"].sum()) if events.height else 0,
            "training_rows": train.height,
            "seconds": {k: round(v, 1) for k, v in seconds.items()},
        }
        self.fit_seconds_ = time.perf_counter() - started
        progress("fitted", 1.0)
        return self

    def _read(
        self,
        orders: pl.DataFrame,
        products: pl.DataFrame | None,
        customers: pl.DataFrame | None,
        cutoff: dt.date | None,
    ) -> None:
        """The lines the fit reads (each customer's look-back before its oldest training
        event), their codes, first dates, pack sizes and the novelties' context."""
        p = self.params_
        self.cutoff_: dt.date = cutoff or (
            as_date(orders["order_date"].max()) + dt.timedelta(days=1)
        )
        history = orders.filter(pl.col("order_date") < self.cutoff_)
        if history.height == 0:
            raise ValueError(f"no order lines before {self.cutoff_} to learn from")
        self.spacing_ = p.spacing_days or spacing_of(history)
        # each customer's look-back before its oldest training event is read line by line;
        # first dates (tenure, product age) and identifiers come from the whole history
        firsts = history.lazy().select("customer_id", "product_id", "order_date")
        first_customer = (
            firsts.group_by("customer_id")
            .agg(pl.col("order_date").min().alias("c_first"))
            .collect()
        )
        first_product = (
            firsts.group_by("product_id").agg(pl.col("order_date").min().alias("first_d")).collect()
        )
        lines, codes = encode(
            recent_part(history, self.cutoff_, self.spacing_, p),
            products,
            customers=first_customer.select("customer_id"),
            known_products=first_product.select("product_id"),
        )
        self.codes_ = codes
        self.lines_ = lines
        self.line_index_ = lines["c"].to_numpy().astype(np.int64)
        self.first_seen_ = codes.products.join(first_product, on="product_id").select(
            "p", "first_d"
        )
        self.first_order_ = codes.customers.join(first_customer, on="customer_id").select(
            "c", "c_first"
        )
        self.packs_, self.inferred_packs_ = pack_sizes(products, codes, lines)
        self.context_: Context = build_context(
            codes, customers, products, geo_neighbours=p.novelties.geo_neighbours
        )
        self.bought_ = lines.select("c", "p").unique().sort("c", "p")

    def _examples(
        self, events: pl.DataFrame, progress: Progress
    ) -> tuple[list[pl.DataFrame], list[pl.DataFrame]]:
        """The labelled candidates of every training event and their adoption rows, one
        snapshot per anchor date."""
        p = self.params_
        frames: list[pl.DataFrame] = []
        adoption: list[pl.DataFrame] = []
        used = sorted(set(events["a"].to_list()))
        for i, anchor in enumerate(used):
            progress(f"training examples before {anchor}", 0.05 + 0.6 * i / max(1, len(used)))
            group = events.filter(pl.col("a") == anchor)
            snap = self._snapshot(anchor, group["c"].to_numpy())
            for slot in range(int(group["slot"].max()) + 1):  # type: ignore[arg-type]
                frame, extension = self._labelled(snap, group.filter(pl.col("slot") == slot))
                if frame.height:
                    # the training negatives are sampled now: the rest is never held at once
                    frames.append(thin(frame, p.negative_rate, p.seed))
                    adoption.append(extension)
        return frames, adoption

    def _learn(
        self,
        train: pl.DataFrame,
        valid: pl.DataFrame,
        adoption_train: pl.DataFrame,
        adoption_valid: pl.DataFrame,
        progress: Progress,
    ) -> None:
        """The ranking, the quantity model and the adoption model."""
        p = self.params_
        progress("learning", 0.7)
        self.ranking_: Ranking = fit_ranking(
            train, valid, p.ranker, alpha=self.tifu_.alpha, seed=p.seed, threads=p.threads
        )
        progress("quantities", 0.9)
        self.quantity_model_ = QuantityModel(
            replace(p.quantities, seed=p.seed, threads=p.threads)
        ).fit(train, valid)
        progress("adoption", 0.95)
        self.adoption_ = AdoptionModel(replace(p.adoption, seed=p.seed, threads=p.threads)).fit(
            adoption_train, adoption_valid
        )

    def _tuned_tifu(self) -> tuple[TifuParams, float]:
        """The customer vectors' parameters: tuned on each customer's last order of the
        history (TIFU-KNN's own recall, the engine's grid; at most ``tune_customers`` of them
        ranked, all of them neighbours; the vector weights on a sample of customers holding
        at most ``tune_vector_lines`` lines), or the given ones."""
        p = self.params_
        if not p.tune_tifu:
            return p.tifu, float("nan")
        tuned, recall = tune_tifu(
            self.lines_,
            self.codes_.n_customers,
            self.codes_.n_products,
            validation=last_order_validation,
            grid=ENGINE_GRID,
            customers=p.tune_customers,
            vector_lines=p.tune_vector_lines,
            seed=p.seed,
        )
        if math.isnan(recall):  # nothing to tune on: keep the given parameters
            return p.tifu, recall
        return tuned, recall

    # -- scoring ---------------------------------------------------------------------------------
    def _groups(
        self, targets: pl.DataFrame, anchors: list[dt.date] | None = None
    ) -> Iterator[tuple[Snapshot, pl.DataFrame]]:
        """Targets (``c, t``) by the snapshot they are scored with, one date per customer in
        each group: a target dated after the history uses the snapshot at its end; one dated
        inside it, a snapshot before its date (``anchors``; default: spread over theirs)."""
        dates = targets["t"]
        if targets.height == 1 and dates.null_count() == 0 and dates[0] >= self.cutoff_:
            yield self.snapshot_, targets.select("c", "t")  # one request after the history
            return
        targets = (
            targets.lazy().select("c", "t").unique().sort("c", "t").collect(engine="in-memory")
        )
        once = targets.height and not targets["c"].is_duplicated().any()
        if once and targets["t"].min() >= self.cutoff_:  # type: ignore[operator]
            yield self.snapshot_, targets  # the usual request: after the history
            return
        after = targets.filter(pl.col("t") >= self.cutoff_)
        inside = targets.filter(pl.col("t") < self.cutoff_)
        groups: list[tuple[dt.date | None, pl.DataFrame]] = []
        if after.height:
            groups.append((None, after))
        if inside.height:
            if anchors is None:
                anchors = target_anchors(inside["t"], self.params_.events.anchors, self.spacing_)
            placed = assign_anchors(inside, anchors)
            groups.extend((a, placed.filter(pl.col("a") == a).drop("a")) for a in anchors)
        for anchor, group in groups:
            if group.height == 0:
                continue
            snap = self.snapshot_ if anchor is None else self._cached_snapshot(anchor)
            slots = group.with_columns(pl.int_range(pl.len()).over("c").alias("_slot"))
            for slot in range(int(slots["_slot"].max()) + 1):  # type: ignore[arg-type]
                yield snap, slots.filter(pl.col("_slot") == slot).drop("_slot")

    def anchors(self, targets: pl.DataFrame) -> list[dt.date]:
        """The anchors of targets (``customer_id, order_date``) inside the history: given to
        ``prepare`` of each part of them, every part is scored as in one call."""
        known = known_targets(coded_targets(targets, self.codes_.customers, self.__dict__))
        inside = known.filter(pl.col("t") < self.cutoff_)["t"]
        return target_anchors(inside, self.params_.events.anchors, self.spacing_)

    def _cached_snapshot(self, anchor: dt.date) -> Snapshot:
        """``_inside_snapshot`` at ``anchor``, kept for the next scoring of the same targets
        (novelties after candidates)."""
        pinned: dict[dt.date, Snapshot] | None = self.__dict__.get(PINNED)
        if pinned is not None:  # a split engine: the anchors' snapshots come from the whole
            if anchor not in pinned:
                raise ValueError(
                    f"a split engine scores targets inside the history at the anchors it was "
                    f"split with ({', '.join(str(a) for a in sorted(pinned)) or 'none'}), not "
                    f"at {anchor}: give split_engine the anchors of all the targets"
                )
            return pinned[anchor]
        cache: dict[dt.date, Snapshot] = self.__dict__.setdefault("_snapshots", {})
        if anchor not in cache:
            while len(cache) >= 8:
                cache.pop(next(iter(cache)))
            cache[anchor] = self._inside_snapshot(anchor)
        return cache[anchor]

    def _inside_snapshot(self, anchor: dt.date) -> Snapshot:
        """The snapshot of targets dated inside the history: product statistics, segment,
        category and brand evidence as of ``anchor`` (so that recent popularity and the
        season mean what they meant at the target's date), and the other customers' vectors,
        neighbours and similar products from the whole history, as the baselines use them."""
        p = self.params_
        final = self.snapshot_
        window = snapshot_lines(self.lines_, anchor, p.lookback_days)
        return Snapshot(
            anchor,
            window,
            product_stats(window, anchor, self.first_seen_, self.packs_),
            final.neighbour,
            final.extra,
            final.matrix,
            final.neighbours,
            final.active,
            final.items,
            context_evidence(window, anchor, self.context_),
        )

    def score_candidates(
        self,
        targets: pl.DataFrame,
        anchors: list[dt.date] | None = None,
        *,
        request: Request | None = None,
    ) -> pl.DataFrame:
        """Every candidate of each target (``c, t``: customer code and order date) with
        ``probability``, ``score`` (for ranking), ``quantity``, ``lapsed`` and the features
        reasons are made of. A target dated inside the history is scored as of its date: the
        customer's lines before it, and snapshots of what was known before it (``anchors``).
        ``request``: what ``score_novelties`` of the same targets will reuse (``prepare``)."""
        parts = [
            self._scored(snap, group, request) for snap, group in self._groups(targets, anchors)
        ]
        parts = [part for part in parts if part.height]
        if not parts:
            return pl.DataFrame(schema=EMPTY_SCORED)
        return pl.concat(parts, how="diagonal_relaxed")

    def _scored(
        self, snap: Snapshot, targets: pl.DataFrame, request: Request | None = None
    ) -> pl.DataFrame:
        """``score_candidates`` of targets sharing a snapshot, one date per customer."""
        p = self.params_
        frame = self._candidates(snap, targets, request=request)
        if frame.height == 0:
            return frame
        raw = self.ranking_.raw(frame)
        q = self.quantity_model_.predict(frame)
        scores = [
            pl.Series("score", raw, dtype=pl.Float64),
            pl.Series("probability", self.ranking_.probability(frame, raw), dtype=pl.Float64),
            pl.Series("_q", q, dtype=pl.Float64),
        ]
        # with NumPy (``requests``: no query for a request's rows), else as expressions
        lapsed = lapsed_values(frame, p.lapsed_intervals, p.lapsed_min_days)
        quantity = rounded_values(frame, np.asarray(q, dtype=np.float64))
        if lapsed is not None and quantity is not None and "_q" not in frame.columns:
            return with_scores(
                frame,
                [
                    *scores,
                    pl.Series("lapsed", lapsed, dtype=pl.Boolean),
                    pl.Series("quantity", quantity, dtype=pl.Float64),
                ],
            )
        interval = pl.coalesce(pl.col("c_gap"), pl.lit(90.0))
        threshold = pl.max_horizontal(
            interval * p.lapsed_intervals, pl.lit(float(p.lapsed_min_days))
        )
        return frame.with_columns(
            *scores, (pl.col("days_since_c") > threshold).fill_null(False).alias("lapsed")
        ).with_columns(rounded(pl.col("_q")).alias("quantity"))

    def prepare(
        self,
        targets: pl.DataFrame,
        objectives: pl.DataFrame | None = None,
        anchors: list[dt.date] | None = None,
        *,
        adoption: bool = True,
    ) -> Scored:
        """Score every candidate of the targets (``customer_id, order_date``) once: the result
        serves ``recommend`` in both modes and ``unseen_ranking`` without scoring again.
        ``anchors``: the ``anchors`` of a larger set of targets these are part of;
        ``adoption=False``: the novelties without the adoption model's ``p_adopt``, which
        only rank mode and ``unseen_ranking`` read (``recommend`` of proposals prepares so)."""
        coded = coded_targets(targets, self.codes_.customers, self.__dict__)
        known = known_targets(coded)
        request = Request()  # the kept rows of ``known``, dated once for both scorings
        # a delisted product (or another maker's) is never proposed, however usual it was
        scored = self._offerable(self.score_candidates(known, anchors, request=request))
        novelties = (
            self.score_novelties(
                scored, known, objectives, anchors, request=request, adoption=adoption
            )
            if scored.height
            else None
        )
        if novelties is not None:
            novelties = self._offerable(novelties) if novelties.height else None
        return Scored(coded, scored, novelties)

    def _offerable(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The rows of ``frame`` whose ``p`` the catalogue offers (own and active); all of
        them, without a query, when it offers every product."""
        ids = offered(self)[0]
        if len(ids) == self.context_.products.height:
            return frame
        return frame.filter(pl.col("p").is_in(ids.implode()))

    def recommend(
        self,
        targets: pl.DataFrame | Scored,
        *,
        mode: OrderMode = "proposal",
        top: int | None = None,
        objectives: pl.DataFrame | None = None,
        resting: pl.DataFrame | None = None,
        acceptance: Acceptance | None = None,
        promote: Promote | None = None,
    ) -> pl.DataFrame:
        """The next order of each target (``customer_id, order_date``, or a ``prepare``
        result) as output lines (``salescope.orders.builder.OUTPUT_COLUMNS`` and
        ``model_probability``).

        Rank mode orders every candidate by the probability that it is in the order; the
        products a customer lacks are ranked among themselves by the adoption model. Proposal
        mode is the usual lines (expected-F1 cut) plus the gated novelties: ``objectives``
        (objectives table) adds objective lines (with a ``prepare`` result, the objectives it
        was prepared with count), ``resting`` (``customer_id, product_id``) names products not
        to offer, ``acceptance`` maps the novelties' prior acceptance (``kind,
        model_probability``) to calibrated probabilities (feedback), and ``promote`` attaches
        promotions to candidate novelty lines (ids, ``probability``, ``quantity``).
        """
        if mode not in get_args(OrderMode):
            raise ValueError(f"mode must be one of {get_args(OrderMode)}, not {mode!r}")
        ready = (
            targets
            if isinstance(targets, Scored)
            else self.prepare(targets, objectives, adoption=mode == "rank")
        )
        scored, novelties = ready.scored, ready.novelties
        if mode == "rank" and novelties is not None:
            _adopted(novelties)
            scored = rank_extensions(scored, novelties)
        fill = top if top is not None else (10 if mode == "rank" else 30)
        frame = fill_candidates(scored, ready.coded, offered(self)[1], fill)
        lines = to_lines(
            frame,
            mode=mode,
            top=top,
            customer_ids=self.codes_.customers,
            product_ids=self.codes_.products,
            bought=self.rows_of("bought_", ready.coded["c"].drop_nulls()),
            max_novelties=self.params_.novelties.max_novelties,
            lapsed_lines=self.params_.lapsed_lines,
            ranked_by=self.ranking_.scorer,
        )
        if mode == "rank" or novelties is None:
            return lines
        # a lapsed customer is asked back first: no novelty until it orders again
        usual = lines.filter(pl.col("kind") == LineKind.USUAL.value)
        offers = self.novelty_lines(scored, novelties, resting, acceptance, promote, usual=usual)
        if lines["lapsed"].any():
            lapsed = lines.filter(pl.col("lapsed")).select(*PROPOSAL_KEY).unique()
            offers = offers.join(lapsed, on=list(PROPOSAL_KEY), how="anti")
        return merge_novelties(lines, offers, top)

    def unseen_ranking(self, targets: pl.DataFrame | Scored, top: int = 10) -> pl.DataFrame:
        """For each target (``customer_id, order_date``, or a ``prepare`` result), the ``top``
        products it never bought (in the look-back window) by the adoption model:
        ``customer_id, product_id, rank, probability`` — the range-extension list rank mode
        draws from (``offers.unseen_ranking``)."""
        ready = targets if isinstance(targets, Scored) else self.prepare(targets)
        if ready.novelties is not None:
            _adopted(ready.novelties)
        return unseen_ranking(ready.novelties, self.codes_, top)

    def score_novelties(
        self,
        scored: pl.DataFrame,
        targets: pl.DataFrame,
        objectives: pl.DataFrame | None = None,
        anchors: list[dt.date] | None = None,
        *,
        request: Request | None = None,
        adoption: bool = True,
    ) -> pl.DataFrame:
        """Extension and objective candidates of ``targets`` (``c, t``) with ``p_adopt`` (the
        adoption model's probability that the product is in the next order; not with
        ``adoption=False``), ``quantity``, ``kind``, ``weight`` and ``objective_scope``
        (objectives) and ``segment``. ``scored``: the main candidates of the same targets
        (``score``); ``request``: what ``score_candidates`` of them kept (``prepare``)."""
        wanted = objective_pairs(objectives, targets, self.context_, self.codes_)
        parts = []
        for snap, group in self._groups(targets, anchors):
            mine = (
                scored
                if same_targets(scored, group)
                else scored.join(group, on=["c", "t"], how="semi")
            )
            if mine.height:
                parts.append(
                    self._adoption_frame(snap, mine, group, objectives=wanted, request=request)
                )
        parts = [part for part in parts if part.height]
        if not parts:
            return pl.DataFrame()
        frame = pl.concat(parts, how="diagonal_relaxed")
        frame = frame.drop([c for c in ("score", "probability", "_q", "quantity") if c in frame])
        q = self.quantity_model_.predict(frame)
        scores = [pl.Series("_q", q, dtype=pl.Float64)]
        if adoption:
            scores.insert(0, pl.Series("p_adopt", self.adoption_.predict(frame), dtype=pl.Float64))
        quantity = rounded_values(frame, np.asarray(q, dtype=np.float64))
        if quantity is None:
            frame = frame.with_columns(scores).with_columns(rounded(pl.col("_q")).alias("quantity"))
        else:
            frame = with_scores(frame, [*scores, pl.Series("quantity", quantity, dtype=pl.Float64)])
        frame = attach_segment(attach_objectives(frame, wanted), self.context_)
        nulls = frame.get_column("weight").null_count()
        if nulls in (0, frame.height):  # one kind: a column of it, without a query
            kind = LineKind.EXTENSION.value if nulls else LineKind.OBJECTIVE.value
            column = pl.Series("kind", [kind], dtype=pl.String).new_from_index(0, frame.height)
            return with_scores(frame, [column])
        return frame.with_columns(
            pl.when(pl.col("weight").is_not_null())
            .then(pl.lit(LineKind.OBJECTIVE.value))
            .otherwise(pl.lit(LineKind.EXTENSION.value))
            .alias("kind")
        )

    def novelty_lines(
        self,
        scored: pl.DataFrame,
        novelties: pl.DataFrame,
        resting: pl.DataFrame | None = None,
        acceptance: Acceptance | None = None,
        promote: Promote | None = None,
        usual: pl.DataFrame | None = None,
    ) -> pl.DataFrame:
        """The novelties shown (gated): ``salescope.orders.offers.novelty_lines``."""
        return novelty_lines(self, scored, novelties, resting, acceptance, promote, usual)

    def split(self, anchors: Sequence[dt.date] = ()) -> tuple[NextOrderModel, CustomerRows]:
        """This engine as (the shared engine, its per-customer tables keyed by ``c``), the
        snapshots at ``anchors`` (inside the history) built first: ``orders.split``; a planned
        engine (``orders.fresh.plan_orders``) as its plan says."""
        if FRESH_ROWS in self.__dict__:
            return split_planned(self, anchors)
        return split_engine(self, anchors)

    def for_customers(self, rows: Mapping[str, pl.DataFrame]) -> NextOrderModel:
        """The engine of the customers whose per-customer tables are ``rows``, on this shared
        engine (``split``): it scores them as the whole engine does."""
        return engine_of(self, rows)

    def summary(self) -> dict[str, Any]:
        """What the fit did, for the command's summary and the model's manifest
        (``orders.summary.summarise``)."""
        return summarise(self)

    @property
    def n_products(self) -> int:
        return self.codes_.n_products

    @property
    def codes(self) -> Codes:
        return self.codes_


def _adopted(novelties: pl.DataFrame) -> None:
    """Refuse novelties prepared without the adoption model's probabilities."""
    if "p_adopt" not in novelties.columns:
        raise ValueError(
            "these targets were prepared with adoption=False (proposals only): prepare them "
            "with adoption=True for rank mode and the range-extension list"
        )


__all__ = [
    "ENGINE_GRID",
    "Acceptance",
    "EngineParams",
    "NextOrderModel",
    "Promote",
    "Scored",
    "Snapshot",
]
