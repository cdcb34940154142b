"""The order being edited on a page — the shop's ordering page, the order a rep takes at a
visit, an automatic order the shop changes before its cut-off: the suggestion's lines with
the quantities as edited, the novelties kept or removed, the products added, and the total
with the promotions.

A draft lives in the page's form (product and quantity per line): each change posts the
form back and the draft is rebuilt from the suggestion (cached) and the catalogue, so prices,
promotions and reasons always come from the server.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from salescope.domain.errors import FieldError
from salescope.domain.statuses import OrderChannel
from salescope.services.ordering import OrderIn, OrderLineIn
from salescope.services.serving import Catalogue, Promotion, SuggestedLine, Suggestion

ADDED = "added"
"""The kind of a line the customer added (not proposed)."""
MAX_QUANTITY = 100_000


@dataclass(frozen=True, slots=True)
class DraftLine:
    product_id: str
    name: str
    kind: str  # usual, development, extension, objective, or "added"
    quantity: float
    suggested: float | None  # the quantity proposed
    unit_price: float | None
    promotion: Promotion | None
    reason: str

    @property
    def gross(self) -> float:
        return 0.0 if self.unit_price is None else round(self.quantity * self.unit_price, 2)

    @property
    def discount(self) -> float:
        return (
            0.0
            if self.promotion is None
            else self.promotion.discount(self.quantity, self.unit_price)
        )

    @property
    def net(self) -> float:
        return round(self.gross - self.discount, 2)

    @property
    def changed(self) -> bool:
        return self.suggested is not None and not math.isclose(self.quantity, self.suggested)


@dataclass(frozen=True, slots=True)
class Draft:
    """An order as edited, against the suggestion it started from."""

    suggestion: Suggestion
    lines: tuple[DraftLine, ...]
    removed: tuple[SuggestedLine, ...]
    errors: dict[str, str] = field(default_factory=dict)  # product_id -> what is wrong

    @property
    def customer_id(self) -> str:
        return self.suggestion.customer_id

    @property
    def order_date(self) -> dt.date:
        return self.suggestion.order_date

    @property
    def usual(self) -> list[DraftLine]:
        return [line for line in self.lines if line.kind == "usual"]

    @property
    def novelties(self) -> list[DraftLine]:
        return [line for line in self.lines if line.kind not in ("usual", ADDED)]

    @property
    def added(self) -> list[DraftLine]:
        return [line for line in self.lines if line.kind == ADDED]

    @property
    def gross(self) -> float:
        return round(sum(line.gross for line in self.lines), 2)

    @property
    def discount(self) -> float:
        return round(sum(line.discount for line in self.lines), 2)

    @property
    def net(self) -> float:
        return round(self.gross - self.discount, 2)

    @property
    def free_units(self) -> list[tuple[str, float]]:
        """(product name, free units) the promotions add."""
        return [
            (line.name, line.promotion.free_units())
            for line in self.lines
            if line.promotion is not None and line.promotion.free_units()
        ]

    def order(self, channel: OrderChannel, order_id: str | None = None) -> OrderIn:
        """The draft as an order to place."""
        return OrderIn(
            customer_id=self.customer_id,
            order_date=self.order_date,
            lines=tuple(
                OrderLineIn(line.product_id, line.quantity, line.unit_price) for line in self.lines
            ),
            order_id=order_id,
            channel=channel,
        )


def _line(catalogue: Catalogue, line: SuggestedLine, quantity: float) -> DraftLine:
    promo = catalogue.promotions.get(line.promotion_id) if line.promotion_id else None
    return DraftLine(
        line.product_id,
        line.name,
        line.kind,
        quantity,
        line.quantity,
        line.unit_price,
        promo,
        line.reason,
    )


def _added(catalogue: Catalogue, product_id: str, quantity: float) -> DraftLine:
    product = catalogue.products[product_id]
    return DraftLine(
        product_id, product.name, ADDED, quantity, None, product.unit_price, None, "added by you"
    )


def draft_of(suggestion: Suggestion, catalogue: Catalogue) -> Draft:
    """The suggestion as the first draft: every line at its suggested quantity."""
    return Draft(suggestion, tuple(_line(catalogue, s, s.quantity) for s in suggestion.lines), ())


def _quantity(text: str) -> float | None:
    """A quantity typed in a form: a number (``2,5`` is read as 2.5); None when empty."""
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return math.nan
    return value


def draft_from_form(
    suggestion: Suggestion,
    catalogue: Catalogue,
    rows: Sequence[tuple[str, str]],
    *,
    remove: str | None = None,
    add: str | None = None,
) -> Draft:
    """The draft a form holds: ``rows`` of (product_id, quantity typed), then ``remove`` a
    product or ``add`` one (at its pack size, else 1). A quantity that is not a positive
    number is kept as an error on its line (the order cannot be sent until it is fixed); an
    empty or zero quantity removes the line."""
    proposed = {line.product_id: line for line in suggestion.lines}
    lines: list[DraftLine] = []
    errors: dict[str, str] = {}
    seen: set[str] = set()
    for product_id, typed in rows:
        if product_id in seen or product_id == remove:
            continue
        if product_id not in proposed and product_id not in catalogue.offerable:
            continue  # not sold (any more): dropped
        seen.add(product_id)
        value = _quantity(typed)
        if value is None or value == 0:
            continue
        if math.isnan(value) or value < 0 or value > MAX_QUANTITY:
            errors[product_id] = f"type a quantity between 1 and {MAX_QUANTITY:,}"
            value = proposed[product_id].quantity if product_id in proposed else 1.0
        if product_id in proposed:
            lines.append(_line(catalogue, proposed[product_id], value))
        else:
            lines.append(_added(catalogue, product_id, value))
    if add and add not in seen:
        if add in proposed:
            lines.append(_line(catalogue, proposed[add], proposed[add].quantity))
        elif add in catalogue.offerable:
            pack = catalogue.products[add].pack_size
            lines.append(_added(catalogue, add, pack if pack and pack > 0 else 1.0))
    kept = {line.product_id for line in lines}
    order = {line.product_id: i for i, line in enumerate(suggestion.lines)}
    lines.sort(key=lambda line: order.get(line.product_id, len(order)))
    removed = tuple(line for line in suggestion.lines if line.product_id not in kept)
    return Draft(suggestion, tuple(lines), removed, errors)


def form_rows(form: Mapping[str, object], *, limit: int = 500) -> list[tuple[str, str]]:
    """The (product_id, quantity) rows of an order form: ``line-<i>-product_id`` and
    ``line-<i>-quantity``."""
    rows: list[tuple[str, str]] = []
    for i in range(limit):
        product = form.get(f"line-{i}-product_id")
        if not isinstance(product, str):
            break
        quantity = form.get(f"line-{i}-quantity")
        rows.append((product.strip()[:64], quantity if isinstance(quantity, str) else ""))
    return rows


def check_sendable(draft: Draft) -> None:
    """FieldError unless the draft can be placed: no error left, at least one line."""
    if draft.errors:
        product, message = next(iter(draft.errors.items()))
        raise FieldError(f"{product}: {message}", "quantity")
    if not draft.lines:
        raise FieldError("the order is empty: add at least one product", "lines")
