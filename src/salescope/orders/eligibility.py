"""Which promotions apply to which customer, product and date: scope (product or category, segment,
region, channel), dates and budget."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from salescope.domain.schemas import PROMOTIONS

# Promotion columns renamed when promotions are joined to lines, so that they do not collide
# with the line's own product_id, category, segment and region.
_RENAMED = {
    "product_id": "promo_product_id",
    "category": "promo_category",
    "segment": "promo_segment",
    "region": "promo_region",
}
ATTACHED_COLUMNS = (
    "promotion_id",
    "promoted_probability",
    "promoted_quantity",
    "incremental_margin",
    "promotion_text",
)


# ---------------------------------------------------------------------------------------------
# Tables: promotions, customer attributes, product attributes
# ---------------------------------------------------------------------------------------------


def promotions_frame(promotions: pl.DataFrame) -> pl.DataFrame:
    """The promotions table with every column of the contract (missing optional ones as nulls,
    i.e. no restriction, no mechanic, no cost, unlimited budget), typed as the schema says."""
    schema = PROMOTIONS.polars_schema()
    return promotions.select(
        [
            pl.col(name).cast(dtype) if name in promotions.columns else pl.lit(None, dtype=dtype)
            for name, dtype in schema.items()
        ]
    ).unique("promotion_id", keep="first", maintain_order=True)


@dataclass(frozen=True, slots=True)
class _Attributes:
    """Customer and product attributes that promotions may restrict, and which of them the
    data has at all (a missing column means no restriction)."""

    customers: pl.DataFrame | None  # customer_id, segment, region
    products: pl.DataFrame | None  # product_id, category, unit_price, unit_cost
    has_segment: bool
    has_region: bool
    has_category: bool

    @classmethod
    def of(cls, customers: pl.DataFrame | None, products: pl.DataFrame | None) -> _Attributes:
        cust = None
        has_segment = has_region = False
        if customers is not None:
            segment = next((c for c in ("segment", "channel") if c in customers.columns), None)
            has_segment = segment is not None
            has_region = "region" in customers.columns
            cust = customers.select(
                pl.col("customer_id").cast(pl.String),
                (pl.col(segment) if segment else pl.lit(None)).cast(pl.String).alias("segment"),
                (pl.col("region") if has_region else pl.lit(None)).cast(pl.String).alias("region"),
            ).unique("customer_id", keep="first")
        prod = None
        has_category = False
        if products is not None:
            has_category = "category" in products.columns
            prod = products.select(
                pl.col("product_id").cast(pl.String),
                *[
                    (pl.col(c) if c in products.columns else pl.lit(None)).cast(t).alias(c)
                    for c, t in (
                        ("category", pl.String),
                        ("unit_price", pl.Float64),
                        ("unit_cost", pl.Float64),
                    )
                ],
            ).unique("product_id", keep="first")
        return cls(cust, prod, has_segment, has_region, has_category)

    def with_customers(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Add ``segment`` and ``region`` of each row's ``customer_id`` (nulls when unknown)."""
        frame = frame.drop("segment", "region", strict=False)
        if self.customers is None:
            return frame.with_columns(
                pl.lit(None, dtype=pl.String).alias("segment"),
                pl.lit(None, dtype=pl.String).alias("region"),
            )
        return frame.join(self.customers, on="customer_id", how="left")

    def with_products(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Add ``category``, ``unit_price``, ``unit_cost`` of each row's ``product_id``."""
        frame = frame.drop("category", "unit_price", "unit_cost", strict=False)
        if self.products is None:
            return frame.with_columns(
                pl.lit(None, dtype=pl.String).alias("category"),
                pl.lit(None, dtype=pl.Float64).alias("unit_price"),
                pl.lit(None, dtype=pl.Float64).alias("unit_cost"),
            )
        return frame.join(self.products, on="product_id", how="left")

    def customer_ok(self) -> pl.Expr:
        """The customer's segment and region satisfy the promotion's restrictions."""
        ok = pl.lit(True)
        if self.has_segment:
            ok &= pl.col("promo_segment").is_null() | (
                pl.col("promo_segment") == pl.col("segment")
            ).fill_null(False)
        if self.has_region:
            ok &= pl.col("promo_region").is_null() | (
                pl.col("promo_region") == pl.col("region")
            ).fill_null(False)
        return ok

    def product_ok(self) -> pl.Expr:
        """The product satisfies the promotion's product and category restrictions."""
        ok = pl.col("promo_product_id").is_null() | (
            pl.col("promo_product_id") == pl.col("product_id")
        ).fill_null(False)
        if self.has_category:
            ok &= pl.col("promo_category").is_null() | (
                pl.col("promo_category") == pl.col("category")
            ).fill_null(False)
        return ok


def _by_product(
    frame: pl.DataFrame, promos: pl.DataFrame, attrs: _Attributes, date: str, first_day: str
) -> pl.DataFrame:
    """Rows of ``frame`` (with ``product_id``, ``category`` and a date column) × the promotions
    whose product and category rules they meet and whose days ``[first_day, end_date]`` hold
    the date. Joins on the product or the category where the promotion names one, so the work
    is proportional to the matches, not to rows × promotions."""
    promos = promos.rename(_RENAMED)
    named = promos.filter(pl.col("promo_product_id").is_not_null())
    parts = [
        frame.join(
            named.with_columns(pl.col("promo_product_id").alias("_key")),
            left_on="product_id",
            right_on="_key",
        )
    ]
    rest = promos.filter(pl.col("promo_product_id").is_null())
    if attrs.has_category:
        by_category = rest.filter(pl.col("promo_category").is_not_null())
        parts.append(
            frame.join(
                by_category.with_columns(pl.col("promo_category").alias("_key")),
                left_on="category",
                right_on="_key",
            )
        )
        rest = rest.filter(pl.col("promo_category").is_null())
    if rest.height and frame.height:
        parts.append(
            frame.join_where(
                rest, pl.col(date) >= pl.col(first_day), pl.col(date) <= pl.col("end_date")
            )
        )
    out = pl.concat([p.select(parts[0].columns) for p in parts], how="vertical")
    return out.filter(
        (pl.col(date) >= pl.col(first_day)) & (pl.col(date) <= pl.col("end_date"))
    ).filter(attrs.product_ok())


def eligible_promotions(
    lines: pl.DataFrame,
    promotions: pl.DataFrame,
    customers: pl.DataFrame | None = None,
    products: pl.DataFrame | None = None,
    *,
    date: str = "order_date",
) -> pl.DataFrame:
    """Every (line, eligible promotion): the rows of ``lines`` (``customer_id``, ``product_id``
    and the ``date`` column) repeated once per promotion they are eligible for, with the
    promotion's columns (its ``product_id``, ``category``, ``segment`` and ``region`` renamed
    ``promo_*``) and the line's ``category``, ``segment``, ``region``, ``unit_price`` and
    ``unit_cost``. The rules are those of the module docstring (missing tables or columns mean
    no restriction). Columns of ``lines`` named like a promotion's (``promotion_id``,
    ``start_date``, ...) are replaced by the promotion's."""
    attrs = _Attributes.of(customers, products)
    # the line's own columns that a promotion's would collide with (e.g. an empty
    # promotion_id of a proposal) give way to the promotion's
    taken = [
        c
        for c in (*PROMOTIONS.names, *_RENAMED.values(), *ATTACHED_COLUMNS)
        if c not in _RENAMED and c != date
    ]
    frame = attrs.with_customers(attrs.with_products(lines.drop(taken, strict=False)))
    return _eligible(frame, promotions_frame(promotions), attrs, date)


def _eligible(
    frame: pl.DataFrame, promos: pl.DataFrame, attrs: _Attributes, date: str
) -> pl.DataFrame:
    return _by_product(frame, promos, attrs, date, "start_date").filter(attrs.customer_ok())
