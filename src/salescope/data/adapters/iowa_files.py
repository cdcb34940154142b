"""The files of an Iowa import: what each one is (sales, raw export, stores, products, populations)
and how it is read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from salescope.data.adapters._common import (
    columns_of,
    expand,
    is_parquet,
    require,
)
from salescope.data.io import read_raw
from salescope.domain.errors import InputError, Issue

SOURCE = "iowa"
LINE_DIGITS = 5  # an invoice line number is the invoice number followed by 5 digits

# role -> (what it is, columns it needs)
SALES = "sales"
RAW = "raw export"
STORES = "stores"
PRODUCTS = "products"
CITY_POPULATION = "city population"
COUNTY_POPULATION = "county population"
REQUIRED: dict[str, tuple[str, ...]] = {
    SALES: ("date", "invoice_line", "store_number", "item_number", "bottles_sold", "sale_dollars"),
    RAW: (
        "Invoice/Item Number",
        "Date",
        "Store Number",
        "Item Number",
        "Bottles Sold",
        "Sale (Dollars)",
    ),
    STORES: ("store_number",),
    PRODUCTS: ("Item Number",),
    CITY_POPULATION: ("County", "City", "Year", "Estimate"),
    COUNTY_POPULATION: ("County", "Year", "Population"),
}
# sales columns of each line format: invoice line, date, store, item, bottles, dollars
_LINE_COLUMNS = {
    SALES: ("invoice_line", "date", "store_number", "item_number", "bottles_sold", "sale_dollars"),
    RAW: REQUIRED[RAW],
}
_WHAT = {
    SALES: "Iowa sales lines",
    RAW: "a raw Iowa Liquor Sales export",
    STORES: "the Iowa store list",
    PRODUCTS: "the Iowa product list",
    CITY_POPULATION: "city population by year",
    COUNTY_POPULATION: "county population by year",
}
_NAME_HINTS = (
    ("raw", RAW),
    ("city_population", CITY_POPULATION),
    ("county_population", COUNTY_POPULATION),
    ("stores", STORES),
    ("products", PRODUCTS),
    ("sales", SALES),
)
_COORDINATES = r"\(\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\)"
_WKT_POINT = r"POINT\s*\(\s*(-?\d+(?:\.\d+)?)\s+(-?\d+(?:\.\d+)?)\s*\)"

ROW = "__row__"
ORDER_COLUMNS = (
    "customer_id",
    "order_id",
    "order_date",
    "product_id",
    "quantity",
    "amount",
    "unit_price",
)


# ----------------------------------------------------------------------------- files


@dataclass(slots=True)
class _Files:
    by_role: dict[str, list[Path]] = field(default_factory=lambda: {r: [] for r in REQUIRED})
    ignored: list[Path] = field(default_factory=list)

    def origin(self, *roles: str) -> str:
        names = [p.name for r in roles for p in self.by_role[r]]
        return ", ".join(names) or "no file"

    def one(self, role: str) -> Path | None:
        found = self.by_role[role]
        if len(found) > 1:
            raise InputError(
                [
                    Issue(
                        file=str(p),
                        problem=f"is one of {len(found)} files of {_WHAT[role]}: give one",
                    )
                    for p in found
                ]
            )
        return found[0] if found else None


def _classify(paths: Sequence[str | Path]) -> _Files:
    data, other = expand(paths)
    files = _Files(ignored=other)
    for path in data:
        files.by_role[_role(path)].append(path)
    if not any(files.by_role[r] for r in (SALES, RAW, STORES, PRODUCTS)):
        raise InputError.single(
            ", ".join(str(p) for p in data),
            "holds no Iowa sales lines, raw export, store list or product list "
            "(population files only complete stores)",
        )
    return files


def _role(path: Path) -> str:
    columns = columns_of(path)
    present = set(columns)
    role: str | None = None
    if "Invoice/Item Number" in present:
        role = RAW
    elif "invoice_line" in present:
        role = SALES
    elif "store_number" in present:
        role = STORES
    elif "Item Number" in present:
        role = PRODUCTS
    elif {"City", "Estimate"} <= present:
        role = CITY_POPULATION
    elif {"County", "Population"} <= present:
        role = COUNTY_POPULATION
    else:
        name = path.name.lower()
        role = next((r for hint, r in _NAME_HINTS if hint in name), None)
    if role is None:
        found = ", ".join(columns) or "none"
        raise InputError.single(
            str(path),
            "is not a recognised Iowa liquor file (sales lines, raw export, stores, products "
            f"or population by city/county); columns found: {found}",
        )
    require(path, columns, REQUIRED[role], _WHAT[role])
    return role


def _read_csv(path: Path) -> pl.DataFrame:
    frame, _, _ = read_raw(path)
    return frame.rename({c: c.strip() for c in frame.columns if c != c.strip()})


def _read_raw_export(path: Path) -> tuple[Path, pl.DataFrame]:
    return path, pl.read_parquet(path) if is_parquet(path) else _read_csv(path)
