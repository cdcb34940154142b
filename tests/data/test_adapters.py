"""The adapters of real exports: Iowa liquor sales and UCI Online Retail."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import polars as pl
import pytest

from salescope.data.adapters import AdapterOutput
from salescope.data.adapters._common import finish
from salescope.data.adapters.iowa import from_iowa
from salescope.data.adapters.online_retail import from_online_retail
from salescope.data.io import validate_frame
from salescope.domain.errors import InputError
from salescope.domain.schemas import TABLES

# ----------------------------------------------------------------------------- helpers

RAW_HEADER = (
    "Invoice/Item Number;Date;Store Number;Store Name;Address;City;Zip Code;Store Location;"
    "County Number;County;Category;Category Name;Vendor Number;Vendor Name;Item Number;"
    "Item Description;Pack;Bottle Volume (ml);State Bottle Cost;State Bottle Retail;"
    "Bottles Sold;Sale (Dollars);Volume Sold (Liters);Volume Sold (Gallons)"
)
STORES = {
    "2191": ("Keokuk Spirits", "1013 MAIN", "KEOKUK", "52632", "(40.39978, -91.387531)", "Lee"),
    "2205": ("Ding's Honk And Holler", "900 E WASHINGTON", "CLARINDA", "51632", "", "Page"),
}
ITEMS = {
    "297": ("Templeton Rye w/Flask", "1081600.0", "WHISKEY", "255", "Wilson Daniels Ltd.", "6"),
    "249": ("Disaronno Amaretto", "1082900.0", "AMARETTO", "130", "Disaronno Intl", "20"),
}


def raw_line(line: str, day: str, store: str, item: str, bottles: str, dollars: str) -> str:
    """One line of the portal's raw export, with the store's and item's attributes."""
    name, address, city, zip_code, coords, county = STORES.get(
        store, ("Somewhere", "1 ST", "AMES", "50010", "", "Story")
    )
    location = f'"{address}\t{city} {zip_code}\t{coords}"'
    desc, cat, cat_name, vendor, vendor_name, pack = ITEMS.get(
        item, ("Unknown", "", "", "1", "V", "12")
    )
    return ";".join(
        [
            line,
            day,
            store,
            name,
            address,
            city,
            zip_code,
            location,
            "56.0",
            county,
            cat,
            cat_name,
            vendor,
            vendor_name,
            item,
            desc,
            pack,
            "750",
            "$18.09",
            "$27.14",
            bottles,
            dollars,
            "4.5",
            "1.19",
        ]
    )


def write_raw(path: Path, lines: list[str]) -> Path:
    path.write_text(RAW_HEADER + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def dropped(output: AdapterOutput, table: str = "orders") -> dict[str, int]:
    return {d.reason: d.rows for d in output.dropped if d.table == table}


def reason_with(output: AdapterOutput, word: str) -> int:
    return sum(rows for reason, rows in dropped(output).items() if word in reason)


def assert_canonical(output: AdapterOutput) -> None:
    for name, frame in output.tables.items():
        validate_frame(frame, TABLES[name], file=f"{output.source}:{name}")


def sales_parquet(path: Path, rows: list[tuple[str, str, str, str, int, float]]) -> Path:
    """A cleaned sales file: (date, invoice_line, store, item, bottles, dollars) rows."""
    frame = pl.DataFrame(
        rows,
        schema={
            "date": pl.String,
            "invoice_line": pl.String,
            "store_number": pl.String,
            "item_number": pl.String,
            "bottles_sold": pl.Int32,
            "sale_dollars": pl.Float64,
        },
        orient="row",
    ).with_columns(pl.col("date").str.to_date())
    frame.write_parquet(path)
    return path


# ----------------------------------------------------------------------------- Iowa, small


def test_raw_export_gives_orders_customers_and_products(tmp_path: Path) -> None:
    """A raw export alone yields typed orders, stores with coordinates and items with prices."""
    path = write_raw(
        tmp_path / "export.csv",
        [
            raw_line("S29198800001", "11/20/2015", "2191", "297", "6", "$162.84"),
            raw_line("S29198800002", "11/20/2015", "2191", "249", "2", "$1,019.20"),
            raw_line("S29195400001", "11/21/2015", "2205", "297", "12", "$325.68"),
        ],
    )
    output = from_iowa([path])
    assert_canonical(output)
    orders = output.tables["orders"]
    assert orders.height == 3
    first = orders.row(0, named=True)
    assert first["order_id"] == "S291988"
    assert first["customer_id"] == "2191"
    assert first["order_date"] == dt.date(2015, 11, 20)
    assert first["amount"] == pytest.approx(162.84)
    assert first["unit_price"] == pytest.approx(27.14)
    assert orders["amount"].to_list()[1] == pytest.approx(1019.20)
    customers = output.tables["customers"].sort("customer_id")
    keokuk = customers.row(0, named=True)
    assert (keokuk["latitude"], keokuk["longitude"]) == (40.39978, -91.387531)
    assert (keokuk["city"], keokuk["zip"], keokuk["county"]) == ("KEOKUK", "52632", "Lee")
    assert keokuk["status"] == "served"
    assert customers.row(1, named=True)["latitude"] is None  # no coordinates in its location
    products = output.tables["products"].sort("product_id")
    rye = products.filter(pl.col("product_id") == "297").row(0, named=True)
    assert rye["unit_price"] == pytest.approx(27.14)
    assert rye["unit_cost"] == pytest.approx(18.09)
    assert rye["pack_size"] == 6.0
    assert (rye["vendor_id"], rye["category_id"]) == ("255", "1081600")


def test_returns_are_dropped_and_free_goods_kept_without_amount(tmp_path: Path) -> None:
    """Bottles <= 0 are dropped and counted; dollars <= 0 on bottles sold keep an empty amount."""
    path = write_raw(
        tmp_path / "export.csv",
        [
            raw_line("S10000000001", "01/05/2015", "2191", "297", "6", "$162.84"),
            raw_line("S10000000002", "01/05/2015", "2191", "249", "-2", "-$19.20"),
            raw_line("S10000000003", "01/05/2015", "2191", "111", "0", "$0.00"),
            raw_line("S10000000004", "01/05/2015", "2191", "222", "3", "$0.00"),
        ],
    )
    output = from_iowa([path])
    assert_canonical(output)
    assert reason_with(output, "returns") == 2
    orders = output.tables["orders"]
    assert orders.height == 2
    free = orders.filter(pl.col("product_id") == "222").row(0, named=True)
    assert free["quantity"] == 3.0
    assert free["amount"] is None and free["unit_price"] is None
    assert any("sale dollars <= 0" in note for note in output.notes)


def test_repeated_items_on_an_invoice_are_summed(tmp_path: Path) -> None:
    """Two lines of one item on one invoice become one line with bottles and dollars summed."""
    path = write_raw(
        tmp_path / "export.csv",
        [
            raw_line("S20000000001", "02/03/2016", "2191", "297", "6", "$162.84"),
            raw_line("S20000000002", "02/03/2016", "2191", "249", "1", "$9.60"),
            raw_line("S20000000003", "02/03/2016", "2191", "297", "2", "$54.28"),
        ],
    )
    output = from_iowa([path])
    assert_canonical(output)
    orders = output.tables["orders"]
    assert orders.height == 2
    rye = orders.filter(pl.col("product_id") == "297").row(0, named=True)
    assert rye["quantity"] == 8.0
    assert rye["amount"] == pytest.approx(217.12)
    assert rye["unit_price"] == pytest.approx(27.14)
    assert reason_with(output, "repeated") == 1
    assert orders.height + sum(dropped(output).values()) == 3


def test_invoice_reused_by_two_stores_becomes_two_orders(tmp_path: Path) -> None:
    """An invoice number used by two stores on two dates is split into two unique orders."""
    path = sales_parquet(
        tmp_path / "sales.parquet",
        [
            ("2022-03-09", "INV-45406600001", "3738", "64863", 48, 180.0),
            ("2022-08-01", "INV-45406600002", "2528", "10802", 12, 314.88),
            ("2022-08-01", "INV-45406600003", "2528", "64863", 12, 50.0),
            ("2022-08-01", "INV-45406700001", "2528", "10802", 1, 26.24),
        ],
    )
    output = from_iowa([path])
    assert_canonical(output)
    orders = output.tables["orders"]
    ids = dict(zip(orders["customer_id"], orders["order_id"], strict=False))
    assert ids["3738"] == "INV-454066-3738-20220309"
    assert ids["2528"] != ids["3738"]
    assert set(orders["order_id"]) == {
        "INV-454066-3738-20220309",
        "INV-454066-2528-20220801",
        "INV-454067",
    }
    assert any("more than one customer or date" in note for note in output.notes)


def test_lines_without_store_or_item_are_dropped_and_ids_are_clean(tmp_path: Path) -> None:
    """Empty store or item numbers drop the line; ids written 2191.0 come out as 2191."""
    path = write_raw(
        tmp_path / "export.csv",
        [
            raw_line("S30000000001", "03/01/2015", "2191.0", "297.0", "6", "$162.84"),
            raw_line("S30000000002", "03/01/2015", "", "249", "1", "$9.60"),
            raw_line("S30000000003", "03/01/2015", "2191", " ", "1", "$9.60"),
        ],
    )
    output = from_iowa([path])
    assert_canonical(output)
    orders = output.tables["orders"]
    assert orders.select("customer_id", "product_id").row(0) == ("2191", "297")
    assert dropped(output)["no store number"] == 1
    assert dropped(output)["no item number"] == 1


def test_unreadable_bottles_name_file_line_and_column(tmp_path: Path) -> None:
    """A bottle count that is not a number is refused with its file, line and column."""
    path = write_raw(
        tmp_path / "export.csv",
        [
            raw_line("S40000000001", "03/01/2015", "2191", "297", "6", "$162.84"),
            raw_line("S40000000002", "03/01/2015", "2191", "249", "six", "$9.60"),
            raw_line("S40000000003", "02/30/2015", "2191", "249", "1", "$9.60"),
        ],
    )
    with pytest.raises(InputError) as error:
        from_iowa([path])
    found = {(i.row, i.column, i.value) for i in error.value.issues}
    assert (3, "Bottles Sold", "six") in found
    assert (4, "Date", "02/30/2015") in found
    assert str(path) in str(error.value)


def test_missing_column_and_unknown_file_are_input_errors(tmp_path: Path) -> None:
    """A raw export without Bottles Sold, or an unrecognised CSV, is refused naming the file."""
    header = RAW_HEADER.replace("Bottles Sold;", "")
    broken = tmp_path / "export.csv"
    broken.write_text(header + "\n", encoding="utf-8")
    with pytest.raises(InputError) as error:
        from_iowa([broken])
    assert error.value.issues[0].column == "Bottles Sold"
    assert str(broken) in str(error.value)

    unknown = tmp_path / "weather.csv"
    unknown.write_text("day,rain\n2020-01-01,3\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a recognised Iowa liquor file"):
        from_iowa([unknown])
    with pytest.raises(InputError, match="does not exist"):
        from_iowa([tmp_path / "absent.parquet"])


def test_sales_file_with_dimension_and_population_files(tmp_path: Path) -> None:
    """Stores and items come from their lists, population joins by normalised city names."""
    sales_parquet(
        tmp_path / "iowa_sales.parquet",
        [
            ("2020-01-02", "INV-10000000001", "2106", "100015", 3, 135.0),
            ("2020-01-02", "INV-10000000002", "2106", "999999", 1, 10.0),
            ("2020-01-03", "INV-10000100001", "7777", "100015", 3, 135.0),
        ],
    )
    (tmp_path / "iowa_stores.csv").write_text(
        "store_number,store_name,store_status,address,city,state,zip_code,latitude,longitude,"
        "report_date\n"
        "2106,HILLSTREET NEWS,A,2217 COLLEGE,DEWITT,IA,52742,41.82,-90.54,2022-11-01\n"
        "2113,JAMBOREE FOODS,I,1119 MARKET ST,ST ANSGAR,IA,50472,,,2022-11-01\n",
        encoding="utf-8",
    )
    (tmp_path / "iowa_products.csv").write_text(
        "Item Number,Category Name,Item Description,Vendor,Vendor Name,Bottle Volume (ml),"
        "Pack,Inner Pack,Age,Proof,List Date,UPC,SCC,State Bottle Cost,State Case Cost,"
        "State Bottle Retail,Report Date\n"
        "100015,WHISKEY LIQUEUR,FIREBALL BAG IN BOX,421,SAZERAC COMPANY  INC,3500,3,1,0,66,"
        "2017-10-01,88004022723,10086816101923,30.00,90.00,45.00,2022-11-01\n",
        encoding="utf-8",
    )
    (tmp_path / "iowa_city_population_by_year.csv").write_text(
        "Primary County Coordinates;County;City;Year;Estimate\n"
        "(41.89, -90.53);Clinton;DE WITT;2016;5200.0\n"
        "(41.89, -90.53);Clinton;DE WITT;2017;5218.0\n"
        "(43.35, -92.78);Mitchell;ST. ANSGAR;2017;1125.0\n",
        encoding="utf-8",
    )
    (tmp_path / "iowa_county_population_by_year.csv").write_text(
        "County;Year;Population;Primary County Coordinates\n"
        "Clinton;2016;47000;(41.89, -90.53)\n"
        "Clinton;2017;46518;(41.89, -90.53)\n"
        "Mitchell;2017;10631;(43.35, -92.78)\n",
        encoding="utf-8",
    )
    output = from_iowa([tmp_path])
    assert_canonical(output)
    assert set(output.tables) == {"orders", "customers", "products"}
    customers = output.tables["customers"].sort("customer_id")
    dewitt = customers.row(0, named=True)
    assert dewitt["population"] == 5218.0
    assert (dewitt["county"], dewitt["county_population"]) == ("Clinton", 46518.0)
    assert customers.row(1, named=True)["population"] == 1125.0
    assert customers.schema["population"] == pl.Float64
    assert customers["store_status"].to_list() == ["A", "I"]
    product = output.tables["products"].row(0, named=True)
    assert product["vendor"] == "SAZERAC COMPANY INC"
    assert (product["vendor_id"], product["pack_size"]) == ("421", 3.0)
    assert product["launch_date"] == dt.date(2017, 10, 1)
    assert (product["bottle_volume_ml"], product["proof"]) == (3500.0, 66.0)
    notes = "\n".join(output.notes)
    assert "1 stores (1 order lines" in notes
    assert "1 items (1 order lines" in notes
    assert output.tables["orders"].height == 3  # kept although store 7777 is unknown


def test_same_line_in_two_files_counts_once(tmp_path: Path) -> None:
    """A line present in both the cleaned sales file and a raw export is kept once."""
    sales = sales_parquet(
        tmp_path / "sales.parquet",
        [("2015-11-20", "S29198800001", "2191", "297", 6, 162.84)],
    )
    raw = write_raw(
        tmp_path / "export.csv",
        [
            raw_line("S29198800001", "11/20/2015", "2191", "297", "6", "$162.84"),
            raw_line("S29198800002", "11/20/2015", "2191", "249", "2", "$19.20"),
        ],
    )
    output = from_iowa([sales, raw])
    assert_canonical(output)
    assert output.tables["orders"].height == 2
    assert reason_with(output, "several files") == 1


def test_an_invalid_table_from_an_adapter_is_reported_as_its_bug() -> None:
    """A table failing validation inside an adapter raises an error blaming the adapter."""
    output = AdapterOutput(source="test", tables={})
    frame = pl.DataFrame(
        {
            "customer_id": ["c"],
            "order_id": ["o"],
            "order_date": [dt.date(2024, 1, 1)],
            "product_id": ["p"],
            "quantity": [-1.0],
        }
    )
    with pytest.raises(RuntimeError, match="bug in the adapter"):
        finish(output, "orders", frame, "test input")


# ----------------------------------------------------------------------------- UCI, small

UCI_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
UCI_LINES = [
    ",".join(fields)
    for fields in [
        ("536365", "85123A", "WHITE HEART HOLDER", "6", "2010-12-01 08:26:00", "2.55", "17850"),
        ("536365", "71053", "WHITE METAL LANTERN", "6", "2010-12-01 08:26:00", "3.39", "17850"),
        ("536365", "85123a", "WHITE HEART HOLDER", "2", "2010-12-01 08:26:00", "2.95", "17850"),
        ("536366", "71053", "WHITE LANTERN", "4", "2010-12-02 09:00:00", "3.00", "17850.0"),
        ("536367", "71053", "WHITE METAL LANTERN", "3", "2010-12-02 09:10:00", "3.50", "12583"),
        ("C536379", "71053", "WHITE METAL LANTERN", "-1", "2010-12-03 09:41:00", "3.39", "12583"),
        ("536370", "POST", "POSTAGE", "3", "2010-12-01 08:45:00", "18.00", "12583"),
        ("536370", "M", "Manual", "1", "2010-12-01 08:45:00", "0.85", "12583"),
        ("536370", "C2", "CARRIAGE", "1", "2010-12-01 08:45:00", "50.00", "12583"),
        ("536370", "BANK CHARGES", "Bank Charges", "1", "2010-12-01 08:45:00", "15.00", "12583"),
        ("536370", "gift_0001_20", "Gift Voucher £20", "1", "2010-12-01 08:45:00", "17.02", ""),
        ("536370", "23444", "Next Day Carriage", "1", "2010-12-01 08:45:00", "15.00", "12583"),
        ("536371", "22633", "HAND WARMER", "6", "2010-12-01 09:01:00", "1.85", ""),
        ("536372", "22633", "HAND WARMER", "0", "2010-12-01 09:02:00", "1.85", "17850"),
        ("536373", "22633", "HAND WARMER", "6", "2010-12-01 09:03:00", "0", "17850"),
    ]
]
UCI_LINES = [
    line + (",France" if line.endswith("12583") else ",United Kingdom") for line in UCI_LINES
]


def write_uci(path: Path, lines: list[str]) -> Path:
    content = UCI_HEADER + "\n".join(lines) + "\n"
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_uci_drops_cancellations_charges_and_anonymous_lines_with_reasons(
    tmp_path: Path,
) -> None:
    """Cancellations, non-product codes, no customer, quantity or price <= 0 are counted out."""
    output = from_online_retail([write_uci(tmp_path / "online_retail.csv.gz", UCI_LINES)])
    assert_canonical(output)
    assert reason_with(output, "cancellation") == 1
    assert reason_with(output, "not a product") == 6
    assert reason_with(output, "no customer") == 1
    assert reason_with(output, "quantity") == 1
    assert reason_with(output, "price") == 1
    kept = output.tables["orders"].height
    assert kept + sum(dropped(output).values()) == len(UCI_LINES)


def test_uci_cancellations_are_netted_against_the_orders_they_cancel(tmp_path: Path) -> None:
    """A cancellation takes its units off the customer's latest order lines of the product on
    or before it: a later line cancelled in full is left out, an earlier one reduced; units
    with no earlier order are counted as unmatched, and nothing else changes."""
    rows = [
        ("600001", "22633", "HAND WARMER", "10", "2011-01-03 10:00:00", "1.00", "20001"),
        ("600002", "22633", "HAND WARMER", "5", "2011-01-07 10:00:00", "1.00", "20001"),
        ("600002", "71053", "LANTERN", "2", "2011-01-07 10:00:00", "3.00", "20001"),
        ("C600003", "22633", "HAND WARMER", "-7", "2011-01-08 10:00:00", "1.00", "20001"),
        ("C600004", "71053", "LANTERN", "-4", "2011-01-02 10:00:00", "3.00", "20001"),
        ("600005", "22633", "HAND WARMER", "3", "2011-01-09 10:00:00", "1.00", "20001"),
    ]
    lines = [",".join(r) + ",United Kingdom" for r in rows]
    output = from_online_retail([write_uci(tmp_path / "retail.csv", lines)])
    assert_canonical(output)
    orders = output.tables["orders"].sort("order_id", "product_id")
    assert orders.select("order_id", "product_id", "quantity").rows() == [
        ("600001", "22633", 8.0),  # 10 - (7 - 5)
        ("600002", "71053", 2.0),  # its cancellation came before it: nothing taken
        ("600005", "22633", 3.0),  # after the cancellation: untouched
    ]
    assert orders.filter(pl.col("order_id") == "600001")["amount"].to_list() == [8.0]
    assert reason_with(output, "fully cancelled") == 1
    note = next(n for n in output.notes if n.startswith("cancellations netted"))
    assert "7 units taken off 2 order lines (1 cancelled in full)" in note
    assert "4 cancelled units matched no earlier order" in note


def test_uci_merges_repeated_products_and_cleans_ids(tmp_path: Path) -> None:
    """85123A and 85123a on one invoice are one summed line; 17850.0 is customer 17850."""
    output = from_online_retail([write_uci(tmp_path / "retail.csv", UCI_LINES)])
    orders = output.tables["orders"]
    heart = orders.filter((pl.col("order_id") == "536365") & (pl.col("product_id") == "85123A"))
    assert heart.height == 1
    line = heart.row(0, named=True)
    assert line["quantity"] == 8.0
    assert line["amount"] == pytest.approx(6 * 2.55 + 2 * 2.95)
    assert line["unit_price"] == pytest.approx((6 * 2.55 + 2 * 2.95) / 8)
    assert reason_with(output, "repeated") == 1
    assert set(orders["customer_id"]) == {"17850", "12583"}
    assert orders.filter(pl.col("order_id") == "536366")["order_date"].to_list() == [
        dt.date(2010, 12, 2)
    ]


def test_uci_customers_and_products(tmp_path: Path) -> None:
    """Customers carry their country as region; products their usual name and median price."""
    output = from_online_retail([write_uci(tmp_path / "retail.csv", UCI_LINES)])
    customers = output.tables["customers"].sort("customer_id")
    assert customers.select("customer_id", "country", "region", "status").rows() == [
        ("12583", "France", "France", "served"),
        ("17850", "United Kingdom", "United Kingdom", "served"),
    ]
    products = output.tables["products"].sort("product_id")
    lantern = products.filter(pl.col("product_id") == "71053").row(0, named=True)
    assert lantern["name"] == "WHITE METAL LANTERN"  # 2 of its 3 kept lines say so
    assert lantern["unit_price"] == pytest.approx(3.39)  # median of 3.39, 3.00, 3.50
    assert set(products["product_id"]) == {"85123A", "71053"}


def test_uci_accepts_spreadsheet_dates(tmp_path: Path) -> None:
    """Dates written M/D/YYYY h:mm (a CSV saved from the workbook) are read."""
    path = write_uci(
        tmp_path / "retail.csv",
        ["536365,85123A,HEART,6,12/1/2010 8:26,2.55,17850,United Kingdom"],
    )
    orders = from_online_retail([path]).tables["orders"]
    assert orders["order_date"].to_list() == [dt.date(2010, 12, 1)]


def test_uci_bad_input_is_refused_with_file_line_and_column(tmp_path: Path) -> None:
    """A bad quantity, a missing column or a workbook is an InputError naming the file."""
    bad = write_uci(
        tmp_path / "retail.csv",
        [UCI_LINES[0], "536365,71053,LANTERN,six,2010-12-01 08:26:00,3.39,17850,United Kingdom"],
    )
    with pytest.raises(InputError) as error:
        from_online_retail([bad])
    issue = error.value.issues[0]
    assert (issue.file, issue.row, issue.column, issue.value) == (str(bad), 3, "Quantity", "six")

    missing = tmp_path / "no_customer.csv"
    missing.write_text("InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice\n", encoding="utf-8")
    with pytest.raises(InputError) as error:
        from_online_retail([missing])
    assert error.value.issues[0].column == "CustomerID"

    workbook = tmp_path / "Online Retail.xlsx"
    workbook.write_bytes(b"PK\x03\x04")
    with pytest.raises(InputError, match="save its sheet as CSV"):
        from_online_retail([workbook])


# ----------------------------------------------------------------------------- real data


@pytest.mark.shared_data
def test_real_raw_iowa_export_converts(shared_data: Path) -> None:
    """The portal's 10,000-line raw export converts completely into valid tables."""
    output = from_iowa([shared_data / "iowa-liquor" / "Iowa_Liquor_Sales_10k_raw_format.csv"])
    assert_canonical(output)
    kept = output.kept
    assert kept["orders"] + sum(dropped(output).values()) == 10_000
    assert kept["orders"] >= 9_990
    assert kept["customers"] == 1_244
    assert kept["products"] == 1_574
    located = output.tables["customers"]["latitude"].is_not_null().sum()
    assert located > 1_100


@pytest.mark.shared_data
def test_real_uci_online_retail_converts_with_plausible_counts(shared_data: Path) -> None:
    """UCI converts to about 4,300 customers, 3,600-3,700 products and 18-19 k invoices."""
    output = from_online_retail([shared_data / "uci-online-retail" / "online_retail.csv.gz"])
    assert_canonical(output)
    orders = output.tables["orders"]
    assert 4_250 <= output.kept["customers"] <= 4_372
    assert 3_600 <= output.kept["products"] <= 3_700
    assert 18_000 <= orders["order_id"].n_unique() <= 19_000
    assert orders.height + sum(dropped(output).values()) == 541_909
    assert reason_with(output, "cancellation") == 9_288
    assert reason_with(output, "fully cancelled") > 1_000
    # 12346 bought 74,215 of one product and cancelled it the same day: nothing is left
    assert orders.filter(pl.col("customer_id") == "12346").height == 0
    assert reason_with(output, "no customer") > 100_000
    assert reason_with(output, "not a product") > 1_000


@pytest.mark.shared_data
@pytest.mark.slow
def test_real_iowa_sales_convert_completely(shared_data: Path) -> None:
    """All 25,060,495 Iowa lines are kept or accounted as dropped; stores and items join."""
    folder = shared_data / "iowa-liquor"
    output = from_iowa(
        [
            folder / "iowa_sales_2012_2022.parquet",
            folder / "iowa_stores.csv",
            folder / "iowa_products.csv",
            folder / "iowa_city_population_by_year.csv",
            folder / "iowa_county_population_by_year.csv",
        ]
    )
    kept = output.kept
    assert kept["orders"] + sum(dropped(output).values()) == 25_060_495
    assert reason_with(output, "returns") == 615
    assert kept["customers"] == 2_296
    assert kept["products"] == 6_482
    orders = output.tables["orders"]
    assert orders.schema["quantity"] == pl.Float64
    assert orders["quantity"].min() > 0  # type: ignore[operator]
    assert orders.select(pl.col("amount").null_count()).item() >= 4_900
    customers = output.tables["customers"]
    assert customers["population"].is_not_null().sum() > 2_200


def test_uci_overlapping_files_read_each_invoice_once(tmp_path: Path) -> None:
    """An invoice present in two files (Online Retail II's sheets overlap) is read once."""
    first = write_uci(tmp_path / "a.csv", UCI_LINES[:2])
    second = tmp_path / "b.csv"
    second.write_text(
        "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n"
        + UCI_LINES[0]
        + "\n"
        + "536999,71053,WHITE METAL LANTERN,2,2011-01-05 10:00:00,3.39,17850,United Kingdom\n",
        encoding="utf-8",
    )
    output = from_online_retail([first, second])
    orders = output.tables["orders"]
    assert orders.height == 3
    assert reason_with(output, "earlier file") == 1


def test_unreadable_parquet_is_an_input_error_naming_it(tmp_path: Path) -> None:
    """A file named .parquet that is not Parquet is refused with its name."""
    broken = tmp_path / "iowa_sales_2012_2022.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(InputError) as error:
        from_iowa([broken])
    assert str(broken) in str(error.value)
    assert "cannot be read" in str(error.value)
