"""Iowa's stores as customers: the store list or the raw export's store columns, coordinates, the
latest attributes, town and county populations."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from salescope.data.adapters import AdapterOutput
from salescope.data.adapters._common import (
    CellCheck,
    clean_id,
    date,
    fmt,
    is_parquet,
    number,
    raise_bad_cells,
    text,
    unreadable,
)
from salescope.data.adapters.iowa_files import (
    _COORDINATES,
    _WKT_POINT,
    CITY_POPULATION,
    COUNTY_POPULATION,
    STORES,
    _Files,
    _read_csv,
)
from salescope.domain.statuses import CustomerStatus

# ----------------------------------------------------------------------------- stores


def _column(frame: pl.DataFrame, name: str) -> pl.Expr:
    """A column of the file, or nulls (as text) where the file lacks it."""
    return pl.col(name) if name in frame.columns else pl.lit(None, dtype=pl.String)


def _numbers(frame: pl.DataFrame, path: Path, columns: dict[str, str]) -> dict[str, pl.Expr]:
    """Numeric columns ``{output: source}`` of a dimension file; unreadable cells -> InputError."""
    exprs: dict[str, pl.Expr] = {}
    checks: list[CellCheck] = []
    for out, source in columns.items():
        if source not in frame.columns:
            exprs[out] = pl.lit(None, dtype=pl.Float64)
            continue
        value = number(pl.col(source), frame.schema[source])
        exprs[out] = value
        if frame.schema[source] == pl.String:
            checks.append(unreadable(source, pl.col(source), value, "is not a number"))
    raise_bad_cells(frame, checks, file=str(path), offset=2, row_label="line")
    return exprs


def _valid_coordinates(frame: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Latitude and longitude both kept when both are present, in range and not (0, 0)."""
    lat, lon = pl.col("latitude"), pl.col("longitude")
    ok = (
        lat.is_not_null()
        & lon.is_not_null()
        & lat.is_between(-90, 90)
        & lon.is_between(-180, 180)
        & ~((lat == 0) & (lon == 0))
    )
    given = lat.is_not_null() | lon.is_not_null()
    cleared = int(frame.select((given & ~ok).sum()).item())
    valid = frame.with_columns(latitude=pl.when(ok).then(lat), longitude=pl.when(ok).then(lon))
    return valid, cleared


def _unique_ids(
    output: AdapterOutput, table: str, frame: pl.DataFrame, key: str, what: str, file: str
) -> pl.DataFrame:
    """Rows with an id, the first of each id; the others accounted as dropped."""
    missing = frame.filter(pl.col(key).is_null()).height
    output.drop(table, f"{what} without a number in {file}", missing)
    frame = frame.filter(pl.col(key).is_not_null())
    repeated = frame.filter(~pl.col(key).is_first_distinct()).height
    output.drop(table, f"{what} listed again in {file} (first row kept)", repeated)
    return frame.unique(key, keep="first", maintain_order=True) if repeated else frame


def _store_list(output: AdapterOutput, path: Path) -> pl.DataFrame:
    frame = pl.read_parquet(path) if is_parquet(path) else _read_csv(path)
    numbers = _numbers(frame, path, {"latitude": "latitude", "longitude": "longitude"})
    stores = frame.select(
        clean_id(pl.col("store_number"), frame.schema["store_number"]).alias("customer_id"),
        text(_column(frame, "store_name")).alias("name"),
        text(_column(frame, "address")).alias("address"),
        text(_column(frame, "city")).alias("city"),
        numbers["latitude"].alias("latitude"),
        numbers["longitude"].alias("longitude"),
        text(_column(frame, "store_status")).alias("store_status"),
        clean_id(_column(frame, "zip_code"), pl.String()).alias("zip"),
    )
    stores = _unique_ids(output, "customers", stores, "customer_id", "store", path.name)
    stores, cleared = _valid_coordinates(stores)
    if cleared:
        output.notes.append(
            f"{path.name}: {cleared} stores' coordinates were incomplete or out of range: "
            "left empty"
        )
    return stores


def _latest(frame: pl.DataFrame, key: str, columns: Sequence[str]) -> pl.DataFrame:
    """Per ``key``, the last non-empty value of each column by ``order_date`` (then file order)."""
    return (
        frame.filter(pl.col(key).is_not_null())
        .sort("order_date", nulls_last=False, maintain_order=True)
        .group_by(key, maintain_order=True)
        .agg(pl.col(c).drop_nulls().last() for c in columns)
    )


def _raw_stores(raw_frames: list[tuple[Path, pl.DataFrame]]) -> pl.DataFrame:
    """Stores as the raw exports describe them (latest line of each store)."""
    parts = []
    for _, frame in raw_frames:
        location = text(_column(frame, "Store Location").str.replace_all(r"[\t\r\n]+", "|"))
        pieces = location.str.split("|")
        city_zip = text(pieces.list.get(1, null_on_oob=True))
        coords_lat = location.str.extract(_COORDINATES, 1).cast(pl.Float64, strict=False)
        coords_lon = location.str.extract(_COORDINATES, 2).cast(pl.Float64, strict=False)
        wkt_lon = location.str.extract(_WKT_POINT, 1).cast(pl.Float64, strict=False)
        wkt_lat = location.str.extract(_WKT_POINT, 2).cast(pl.Float64, strict=False)
        parts.append(
            frame.select(
                date(pl.col("Date"), frame.schema["Date"]).alias("order_date"),
                clean_id(pl.col("Store Number"), frame.schema["Store Number"]).alias("customer_id"),
                text(_column(frame, "Store Name")).alias("name"),
                pl.coalesce(
                    text(_column(frame, "Address")),
                    text(pieces.list.get(0, null_on_oob=True)),
                ).alias("address"),
                pl.coalesce(
                    text(_column(frame, "City")),
                    text(city_zip.str.replace(r"\s*\d{5}(-\d{4})?$", "")),
                ).alias("city"),
                pl.coalesce(
                    clean_id(_column(frame, "Zip Code"), pl.String()),
                    city_zip.str.extract(r"(\d{5})(-\d{4})?$", 1),
                ).alias("zip"),
                text(_column(frame, "County")).alias("county"),
                pl.struct(
                    latitude=pl.coalesce(coords_lat, wkt_lat),
                    longitude=pl.coalesce(coords_lon, wkt_lon),
                ).alias("coordinates"),
            )
        )
    lines = pl.concat(parts, how="diagonal_relaxed")
    lines = lines.with_columns(
        coordinates=pl.when(
            pl.col("coordinates").struct.field("latitude").is_not_null()
            & pl.col("coordinates").struct.field("longitude").is_not_null()
        ).then(pl.col("coordinates"))
    )
    stores = _latest(
        lines, "customer_id", ["name", "address", "city", "zip", "county", "coordinates"]
    ).unnest("coordinates")
    stores, _ = _valid_coordinates(stores)
    return stores


def _merge(
    primary: pl.DataFrame | None, secondary: pl.DataFrame | None, key: str
) -> pl.DataFrame | None:
    """``primary``'s rows completed by ``secondary`` (its empty cells), then rows only there."""
    if primary is None or secondary is None:
        return primary if secondary is None else secondary
    both = primary.join(secondary, on=key, how="left", suffix="__2", maintain_order="left")
    fill = [
        pl.coalesce(c, f"{c}__2").alias(c)
        for c in secondary.columns
        if c != key and c in primary.columns
    ]
    both = both.with_columns(fill).drop(c for c in both.columns if c.endswith("__2"))
    only = secondary.join(primary.select(key), on=key, how="anti")
    return pl.concat([both, only], how="diagonal_relaxed")


def _place_key(expr: pl.Expr) -> pl.Expr:
    """A city or county name for joining: case, spaces and punctuation ignored, SAINT = ST."""
    upper = expr.cast(pl.String).str.to_uppercase().str.strip_chars()
    upper = upper.str.replace(r"^SAINT\s+", "ST ").str.replace(r"^MOUNT\s+", "MT ")
    upper = upper.str.replace(r"^FORT\s+", "FT ")
    return upper.str.replace_all(r"[^A-Z0-9]", "").replace("", None)


def _customers(
    output: AdapterOutput, files: _Files, raw_frames: list[tuple[Path, pl.DataFrame]]
) -> pl.DataFrame | None:
    path = files.one(STORES)
    listed = _store_list(output, path) if path is not None else None
    described = _raw_stores(raw_frames) if raw_frames else None
    customers = _merge(listed, described, "customer_id")
    if customers is None:
        return None
    if "county" not in customers.columns:
        customers = customers.with_columns(county=pl.lit(None, dtype=pl.String))
    customers = _add_population(
        output, customers, files.one(CITY_POPULATION), files.one(COUNTY_POPULATION)
    )
    return customers.select(
        "customer_id",
        "name",
        "address",
        "city",
        pl.col("county").alias("region"),
        "latitude",
        "longitude",
        pl.lit(CustomerStatus.SERVED.value).alias("status"),
        *[
            c
            for c in ("store_status", "zip", "county", "population", "county_population")
            if c in customers.columns
        ],
    )


def _population_rows(path: Path, place: str, value: str) -> pl.DataFrame:
    """The latest year's rows of a population file, keyed by place."""
    frame = pl.read_parquet(path) if is_parquet(path) else _read_csv(path)
    numbers = _numbers(frame, path, {"year": "Year", "value": value})
    rows = frame.select(
        _place_key(pl.col(place)).alias("key"),
        text(pl.col("County")).alias("county"),
        _place_key(pl.col("County")).alias("county_key"),
        numbers["year"].alias("year"),
        numbers["value"].alias("value"),
    ).drop_nulls(["key", "year", "value"])
    # a (place, county, year) given twice (the 2010 census and estimate base): the last counts
    rows = rows.unique(["key", "county_key", "year"], keep="last", maintain_order=True)
    return rows.filter(pl.col("year") == pl.col("year").max().over("key"))


def _add_population(
    output: AdapterOutput,
    customers: pl.DataFrame,
    city_path: Path | None,
    county_path: Path | None,
) -> pl.DataFrame:
    if city_path is not None:
        latest = _population_rows(city_path, "City", "Estimate")
        # a city spreading over several counties: the parts add up; its county is the largest
        cities = latest.group_by("key").agg(
            pl.col("value").sum().alias("population"),
            pl.col("year").first().alias("population_year"),
            pl.col("county").sort_by("value").last().alias("city_county"),
        )
        customers = (
            customers.with_columns(_place_key(pl.col("city")).alias("__city__"))
            .join(cities, left_on="__city__", right_on="key", how="left", maintain_order="left")
            .with_columns(county=pl.coalesce("county", "city_county"))
        )
        matched = customers.filter(pl.col("population").is_not_null())
        unmatched = (
            customers.filter(pl.col("population").is_null() & pl.col("city").is_not_null())
            .group_by("city")
            .len()
            .sort("len", "city", descending=[True, False])
        )
        years = sorted(set(matched["population_year"].drop_nulls().cast(pl.Int64).to_list()))
        shown = ", ".join(unmatched["city"].head(8).to_list())
        output.notes.append(
            f"city population ({city_path.name}, latest year {'/'.join(map(str, years)) or '-'}"
            f"; names compared without case, spaces or punctuation, SAINT = ST, MOUNT = MT): "
            f"{fmt(matched.height)} of {fmt(customers.height)} stores matched"
            + (f"; not found: {shown}" if shown else "")
            + "; a store's county, when no raw export gives it, is its city's main county"
        )
        customers = customers.drop("__city__", "population_year", "city_county")
    if county_path is not None:
        latest = _population_rows(county_path, "County", "Population")
        counties = latest.group_by("key").agg(
            pl.col("value").last().alias("county_population"),
            pl.col("year").first().alias("county_year"),
        )
        customers = customers.with_columns(_place_key(pl.col("county")).alias("__county__")).join(
            counties, left_on="__county__", right_on="key", how="left", maintain_order="left"
        )
        found = customers.filter(pl.col("county_population").is_not_null()).height
        no_county = customers.filter(pl.col("county").is_null()).height
        year = customers.select(pl.col("county_year").max().cast(pl.Int64)).item()
        output.notes.append(
            f"county population ({county_path.name}, year {year}): {fmt(found)} of "
            f"{fmt(customers.height)} stores matched"
            + (f" ({fmt(no_county)} stores have no known county)" if no_county else "")
        )
        customers = customers.drop("__county__", "county_year")
    return customers
