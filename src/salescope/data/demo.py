"""The demo company: a believable synthetic consumer-goods manufacturer, with its ground truth.

``generate_demo(DemoConfig(seed=...))`` builds, in a few seconds and fully vectorised, the data a
real manufacturer would hand to Salescope: the canonical tables of CONTRACTS.md (``orders``,
``customers``, ``products``, ``promotions``, ``objectives``, ``reps``, ``market``, ``visits``),
each of which passes ``salescope.data.io.validate_frame`` unchanged, and the *truth* the history
was generated from, so that every engine can be scored against what really drives the data.

The world
---------
A fictional country (somewhere around 48.5–50.8 °N, 13.9–18.7 °E) is cut into ``n_regions``
regions on a grid. Each region has a capital, a few towns and villages (with populations); shops
cluster around them (wider spread in larger towns). A shop has a ``channel`` (grocery, kiosk,
liquor_store, bar, pharmacy; also copied to the extra column ``segment``: in the demo the
commercial segment of a shop *is* its channel; the order lines repeat it in ``channel``),
sometimes a ``chain``, a sales area ``size`` (m²) and its town's ``population``. A shop's
yearly purchases of our categories from all suppliers follow its channel, size, town and chain,
with noise; a logistic *conversion* model of the same attributes decides which shops are our
customers (``served``) and which are ``prospect``.

We make ``n_categories`` categories (beverages, snacks, confectionery, spirits, personal_care,
household); competitors sell the same categories (``own`` false, never in ``orders``). A few of our
products are launched during the history (``launch_date`` inside it) and a few are delisted
(``active`` false, no line after their delisting day, see ``truth["products"]``). List prices rose
3.5 % on each 1 January inside the history; ``products.unit_price`` is the price at its end, the
lines carry the price of their date.

Reps (role ``rep``) each cover a territory of their region: compact territories of about equal
workload (a capacitated k-means of the region's customers), the rep based near its centre.
Merchandisers, based in the capitals of the regions with the most customers, serve some of their
large groceries and pharmacies. A served shop belongs to the rep of its territory
(``truth["customer_params"].territory_rep_id``, the nearest rep for ~80 %), except a few
historical oddities (``assignment_oddity``); its ``interaction_mode`` follows its value and its
distance to the rep (large → field or merchandiser, small and far → wholesaler or digital, ...),
with a few oddities too (``mode_oddity``). ``capacity_minutes`` is per month, like the visits'
minutes; some reps are over capacity, some have room.

How the history is generated (and the truth that drives it)
-----------------------------------------------------------
* **Rhythm.** A served shop orders every ``order_interval_days`` (7/14/21/28 by channel) on its
  usual weekday, ±1 day, skipping an order with probability ``skip_probability``; 15 % are
  irregular (gamma gaps of the same mean). Sundays and 25/26 December and 1 January move to the
  next open day. Some shops start mid-history (``served_from``), some churn (``churn_date``; their
  quantities fall to half over the 180 days before it, and nothing is ordered from then on).
* **Taste.** score(shop, product) = product popularity + channel×category affinity +
  town×category taste (neighbours are alike) + latent taste vectors (shops of a town share part
  of theirs) + product-specific size effect + idiosyncratic noise.
* **Repertoire.** At its start a shop buys a set of our products drawn without replacement with
  weights exp(score) (its size sets how many: ``lines_per_order`` ≈ expected lines per order).
  Each product of the repertoire is in an order with probability ``inclusion_probability`` and
  in quantity ``base_quantity`` × seasonality(category, month) × exp(trend × years) ×
  lognormal(σ = 0.25, mean 1) (× promotion lift), rounded to packs (``by_pack``) or units. A
  few repertoire products are dropped at ``dropped_on``. Expected own sales are
  potential × loyalty (before adoptions).
* **Adoption.** On every order, a product the shop does not buy is *put to it* (by the rep,
  the online shop, a leaflet) with probability ``exposure`` (``DemoConfig.exposure``;
  ``launch_exposure`` × exp(-days since launch / 120) more for launched products; × 2 when an
  objective covering the shop is running) and accepted with probability
  min(1, propensity × lift) where ``propensity`` = sigmoid(score + openness + c) and ``lift`` is
  the lift of the promotion running on it for the shop (1 without). Once accepted (first line,
  a trial quantity at 60 %), the product joins the repertoire with its inclusion probability.
* **Promotions.** Each has a true ``lift``: the probability of a line is multiplied by it
  (capped at 0.98) and so is the quantity; when several apply, the one with the largest lift is
  used. A line of an eligible product in the promotion's dates carries its ``promotion_id``.
  ``discount_pct`` and ``bundle`` take ``value`` % off the line; ``free_units`` adds ``value``
  free units to the line's quantity (not charged). Budgets were set so that none ran out.
* **Market.** For ``market_share`` of the shops (served and prospects), each calendar year fully
  inside the history (or, for a history shorter than a year, each full month) has an
  observation: ``total_amount`` = true purchases from all suppliers in that period × lognormal
  noise (σ 0.10 panel, 0.05 audit), never below ``own_amount`` (our real sales, served shops
  only). ``category`` is empty: the figure covers all our categories.
* **Visits.** Field, video and merchandiser shops are visited at every (or every other)
  ordering occasion, so ``visits_per_month`` = 30.44 / (interval × visit_every_orders); after a
  churn the rep keeps coming half as often. Digital, automatic and wholesaler shops get a field
  check every few months (``visits_per_month`` ≤ 0.34).

Truth (``DemoCompany.truth``)
-----------------------------
``potential``
    customer_id, status, potential (true yearly purchases of our categories from all suppliers,
    over the last 12 months of the history, or the whole of a shorter one, annualised),
    own_amount (our real sales in that window, annualised), share_of_wallet (own / potential),
    competitor_amount. Every shop of the universe; prospects have own 0.
``adoption``
    customer_id, product_id, propensity, in_repertoire: every served customer × own product
    available at the end of the history (launched, not delisted) that it never bought.
    ``propensity`` is the probability that it accepts the product if proposed on its next order
    without promotion (with promotion: min(1, propensity × lift)). ``in_repertoire`` marks the
    rare products of its repertoire it happened not to buy yet; their propensity is their
    inclusion probability.
``promotion_lift``
    promotion_id, lift, uses (lines in the history), uses_future (lines in ``future_orders``).
``customer_params``
    customer_id, status, served_from, churn_date, order_interval_days, irregular, order_weekday
    (0 = Monday), skip_probability, loyalty (intended own share), trend (yearly log growth),
    openness (adoption logit shift), lines_per_order, potential_base (yearly at the start),
    conversion_propensity (chance the shop becomes a customer when approached; the served set was
    drawn from it), territory_rep_id, assignment_oddity, mode_oddity, visit_every_orders.
``repertoire``
    customer_id, product_id, inclusion_probability, base_quantity (units per line before season,
    trend and promotion), by_pack, adopted_on (empty = bought since before the history),
    adoption_promotion_id, dropped_on. Products adopted after the history are not in it.
``products``
    product_id, own, popularity, launched_in_history, delisted_on, launch_exposure.
``seasonality``
    category, month (1–12), factor (mean 1 over the year).
``future_orders``
    the order lines of the ``horizon_days`` after the history, from the same process (canonical
    orders schema): what a next-order engine trained on ``orders`` should predict.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from salescope.data.io import write_csv, write_parquet
from salescope.domain.schemas import TABLES

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

Progress = Callable[[str, float], None]

NEVER = 1_000_000  # a day index after every date of the demo
DAYS_PER_MONTH = 30.44
OWN_VENDOR = "Brava Consumer Goods"

# ---------------------------------------------------------------------------------------------
# Catalogues (word lists and the parameters of the world)
# ---------------------------------------------------------------------------------------------

CHANNELS = ("grocery", "kiosk", "liquor_store", "bar", "pharmacy")
_SIZE_MEDIAN = np.array([150.0, 12.0, 60.0, 90.0, 80.0])  # m²
_SIZE_SD = np.array([0.55, 0.35, 0.45, 0.5, 0.4])
_POTENTIAL_MEDIAN = np.array([60_000.0, 14_000.0, 45_000.0, 32_000.0, 18_000.0])  # per year
_LINES_BASE = np.array([14.0, 7.0, 10.0, 9.0, 7.0])
_CONVERSION_EFFECT = np.array([0.3, -0.2, 0.2, 0.1, -0.3])
_INTERVALS = np.array([7, 14, 21, 28])
_INTERVAL_P = np.array(
    [
        [0.45, 0.35, 0.08, 0.12],
        [0.55, 0.30, 0.05, 0.10],
        [0.25, 0.40, 0.15, 0.20],
        [0.50, 0.30, 0.08, 0.12],
        [0.10, 0.35, 0.20, 0.35],
    ]
)
# channel probabilities by town class: capital, town, village
_CHANNEL_P = np.array(
    [
        [0.34, 0.22, 0.10, 0.24, 0.10],
        [0.40, 0.18, 0.12, 0.20, 0.10],
        [0.50, 0.10, 0.10, 0.25, 0.05],
    ]
)
_CHAINS: dict[int, tuple[str, ...]] = {
    0: ("FreshPoint", "Korzo Market", "DailyMart"),
    1: ("PressPoint",),
    2: ("Cellar & Co",),
    4: ("VitaPharm", "Apteka Plus"),
}
_CHAIN_P = np.array([0.30, 0.25, 0.15, 0.0, 0.40])


@dataclass(frozen=True)
class _Category:
    name: str
    packs: tuple[int, ...]
    price: tuple[float, float]
    season_amplitude: float
    season_peak: int  # month
    variants: tuple[str, ...]
    sizes: tuple[str, ...]
    own_brands: tuple[str, ...]
    competitors: tuple[tuple[str, str], ...]  # (brand, vendor)


def _w(text: str) -> tuple[str, ...]:
    return tuple(text.split("|"))


CATEGORIES: tuple[_Category, ...] = (
    _Category(
        name="beverages",
        packs=(6, 12, 24),
        price=(0.6, 2.2),
        season_amplitude=0.35,
        season_peak=7,
        variants=_w(
            "Still Water|Sparkling Water|Cola|Cola Zero|Orange Soda|Lemon Soda|Iced Tea Peach|"
            "Iced Tea Lemon|Energy Drink|Apple Juice|Multivitamin Juice|Tonic"
        ),
        sizes=_w("0.33 l|0.5 l|1 l|1.5 l"),
        own_brands=_w("Brava|Clearspring"),
        competitors=(
            ("Alpina", "Alpina Beverages"),
            ("FizzCo", "Meridian Brands"),
            ("Vodna", "Vodna a.s."),
        ),
    ),
    _Category(
        name="snacks",
        packs=(12, 24),
        price=(0.9, 2.8),
        season_amplitude=0.10,
        season_peak=7,
        variants=_w(
            "Salted Chips|Paprika Chips|Cheese Puffs|Salted Peanuts|Pretzel Sticks|"
            "Tortilla Chips|Popcorn|Crackers|Cashews|Rice Cakes"
        ),
        sizes=_w("40 g|150 g|250 g"),
        own_brands=_w("Krispo|Brava Snack"),
        competitors=(("Crunchy Joe", "Meridian Brands"), ("Nordia", "Nordia Foods")),
    ),
    _Category(
        name="confectionery",
        packs=(12, 24, 48),
        price=(0.5, 2.6),
        season_amplitude=0.25,
        season_peak=12,
        variants=_w(
            "Milk Chocolate|Dark Chocolate|Hazelnut Bar|Wafers|Gummy Bears|Mints|Chewing Gum|"
            "Caramel Bar|Butter Biscuits|Praline Box"
        ),
        sizes=_w("45 g|100 g|200 g"),
        own_brands=_w("Dolcina|Brava Sweet"),
        competitors=(("Sweetland", "Sweetland Group"), ("Choco Royal", "Nordia Foods")),
    ),
    _Category(
        name="spirits",
        packs=(6, 12),
        price=(6.0, 22.0),
        season_amplitude=0.30,
        season_peak=12,
        variants=_w(
            "Vodka|Herbal Liqueur|Plum Brandy|Dry Gin|Spiced Rum|Blended Whisky|Egg Liqueur|"
            "Apricot Brandy|Pear Brandy|Honey Liqueur"
        ),
        sizes=_w("0.2 l|0.5 l|0.7 l|1 l"),
        own_brands=_w("Old Mill|Stara Pec"),
        competitors=(("Tatra Distillery", "Tatra Spirits"), ("Kingsbury", "Kingsbury Drinks")),
    ),
    _Category(
        name="personal_care",
        packs=(6, 12),
        price=(1.5, 7.5),
        season_amplitude=0.10,
        season_peak=6,
        variants=_w(
            "Hand Cream|Lip Balm|Shower Gel|Toothpaste|Vitamin C Tablets|Throat Lozenges|"
            "Sun Lotion|Deodorant|Shampoo|Wet Wipes"
        ),
        sizes=_w("15 ml|100 ml|250 ml"),
        own_brands=_w("Vitalis"),
        competitors=(("Purelle", "Purelle Care"), ("Medora", "Medora Health")),
    ),
    _Category(
        name="household",
        packs=(6, 12),
        price=(1.2, 5.5),
        season_amplitude=0.05,
        season_peak=4,
        variants=_w(
            "Dish Soap|Glass Cleaner|Kitchen Towels|Trash Bags|Sponges|Bathroom Cleaner|"
            "Laundry Gel|Matches|Candles|Aluminium Foil"
        ),
        sizes=_w("small|regular|family pack"),
        own_brands=_w("Brilo"),
        competitors=(("Cleanix", "Cleanix Europe"), ("HomePro", "Meridian Brands")),
    ),
)
MAX_CATEGORIES = len(CATEGORIES)

# channel × category affinity (log scale)
_AFFINITY = np.array(
    [
        [0.8, 0.6, 0.6, 0.2, 0.3, 0.4],
        [0.7, 0.6, 0.8, -0.5, -0.8, -1.2],
        [0.3, 0.3, -0.4, 1.3, -2.0, -2.0],
        [1.0, 0.3, -1.0, 0.9, -2.5, -2.5],
        [-0.2, -1.5, 0.1, -3.0, 1.5, -0.5],
    ]
)

_REGION_NAMES = _w(
    "Vardenia|Lesnia|Horvania|Dolina|Brezina|Kamenia|Zlatovia|Rudnia|Sokolia|Vranovia|"
    "Pernica|Ostravia"
)
_TOWN_PREFIX = _w(
    "Bren|Kal|Dobr|Les|Hor|Vel|Stra|Mir|Zle|Pod|Rad|Sob|Tren|Ost|Lub|Kra|Bel|Cer|Nov|"
    "Star|Jas|Lip|Dub|Kam"
)
_TOWN_SUFFIX = _w("ov|ice|ava|any|in|ec|ary|nik|ovo|ina|ovice|ov Brod")
_SURNAMES = _w(
    "Novak|Horvat|Kovac|Dvorak|Svoboda|Nemec|Kral|Marek|Pokorny|Benes|Fiala|Sedlak|"
    "Dolezal|Zeman|Kolar|Navratil|Cerny|Vesely|Ruzicka|Blaha|Hajek|Kriz|Moravec|Urban|"
    "Kopecky|Holub|Simek|Stastny|Vlcek|Polak|Musil|Jelinek|Sykora|Bartos|Soukup|Kadlec|"
    "Maly|Riha|Toman|Vacek|Hruby|Konecny|Sramek|Tichy|Machala|Kubat|Pesek|Linhart"
)
_FIRST_NAMES = _w(
    "Anna|Jan|Petra|Tomas|Eva|Martin|Lucie|Pavel|Jana|Marek|Katerina|Ondrej|Veronika|"
    "Jakub|Tereza|Lukas|Zuzana|Michal|Klara|David"
)
_STREETS = _w(
    "Linden|Church|Market|Mill|Station|Castle|Orchard|River|School|Garden|Birch|Chestnut|"
    "Meadow|Bridge|Hill|Forest|Spring|Vineyard|Brewery|Poplar"
)
_STREET_KINDS = ("Street", "Street", "Road", "Lane", "Square")
_BAR_WORDS = _w(
    "Anchor|Golden Lion|Old Oak|Corner|Blue Moon|Red Fox|Linden Tree|Railway|"
    "Hunter's Rest|Barrel|Old Mill|Rose|Black Horse|Three Crowns|Green Door|White Swan|"
    "Stag|Cellar|Fountain|Bell|Crossroads|Market|Lantern|Copper Kettle"
)
_PHARMACY_WORDS = _w(
    "St. Anne|At the Golden Eagle|Salvia|Centrum|Linden|Hygiea|At the Town Hall|Aesculap|"
    "At the Black Eagle|St. Michael|Camomile|Panacea|At the Market|Rosemary|Arnica|Vita"
)
_MODES = ("field", "video", "digital", "automatic", "merchandiser", "wholesaler")
_FIELD, _VIDEO, _DIGITAL, _AUTOMATIC, _MERCH, _WHOLESALER = range(6)
_MECHANICS = ("discount_pct", "free_units", "bundle")


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoConfig:
    """Every knob of the demo company; the defaults make a realistic mid-sized manufacturer."""

    seed: int = 7
    n_regions: int = 4
    towns_per_region: int = 7  # a capital, a few towns, the rest villages
    n_shops: int = 3000  # the market universe: served customers and prospects
    served_share: float = 0.45
    n_reps: int = 12
    n_merchandisers: int = 3
    n_categories: int = 5
    own_products_per_category: int = 24
    competitor_products_per_category: int = 30
    launch_share: float = 0.08  # own products launched during the history
    delisted_share: float = 0.04  # own products delisted during the history
    start: date = date(2023, 1, 1)
    months: int = 24
    horizon_days: int = 28  # orders after the history, kept as truth["future_orders"]
    new_share: float = 0.10  # served shops that start ordering during the history
    churn_share: float = 0.07  # served shops that stop ordering during the history
    irregular_share: float = 0.15
    skip_probability: float = 0.04
    promotions_per_month: float = 2.0
    objectives_per_segment: int = 3
    market_share: float = 0.30  # shops with market observations
    taste_dim: int = 4
    mean_propensity: float = 0.12  # mean adoption propensity of the products a shop lacks
    exposure: float = 0.005  # chance per order that a product the shop lacks is put to it
    launch_exposure: float = 0.15
    drop_share: float = 0.06  # repertoire products a shop stops buying during the history
    price_increase: float = 0.035  # list price rise on each 1 January

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.n_categories <= MAX_CATEGORIES:
            problems.append(f"n_categories must be between 1 and {MAX_CATEGORIES}")
        if self.n_regions < 1 or self.towns_per_region < 1:
            problems.append("n_regions and towns_per_region must be at least 1")
        if self.n_reps < self.n_regions:
            problems.append("n_reps must be at least n_regions (every region has a rep)")
        if self.n_merchandisers < 0:
            problems.append("n_merchandisers must not be negative")
        if self.n_shops < 20:
            problems.append("n_shops must be at least 20")
        if not 0.05 <= self.served_share <= 0.95:
            problems.append("served_share must be between 0.05 and 0.95")
        if self.months < 3:
            problems.append("months must be at least 3")
        if self.own_products_per_category < 2 or self.competitor_products_per_category < 0:
            problems.append("need at least 2 own products per category")
        for name in ("market_share", "new_share", "churn_share", "launch_share", "delisted_share"):
            if not 0.0 <= getattr(self, name) <= 0.5 + 0.5 * (name == "market_share"):
                problems.append(f"{name} is out of range")
        if problems:
            raise ValueError("invalid DemoConfig: " + "; ".join(problems))

    @classmethod
    def small(cls, seed: int = 7) -> DemoConfig:
        """A small company for tests: ~300 shops and 8 months of orders, made in about a second."""
        return cls(
            seed=seed,
            n_regions=2,
            towns_per_region=5,
            n_shops=300,
            n_reps=3,
            n_merchandisers=1,
            own_products_per_category=12,
            competitor_products_per_category=8,
            launch_share=0.1,
            start=date(2024, 1, 1),
            months=8,
        )

    @property
    def end(self) -> date:
        """The last day of the history."""
        month = self.start.month - 1 + self.months
        first = date(self.start.year + month // 12, month % 12 + 1, 1)
        if self.start.day == 1:
            return first - timedelta(days=1)
        return date(first.year, first.month, min(self.start.day, 28)) - timedelta(days=1)


@dataclass
class DemoCompany:
    """The canonical tables of the demo company and the truth they were generated from."""

    config: DemoConfig
    tables: dict[str, pl.DataFrame]
    truth: dict[str, pl.DataFrame]
    seconds: float = 0.0

    def summary(self) -> dict[str, int | float | str]:
        """The figures people want to see first."""
        customers = self.tables["customers"]
        products = self.tables["products"]
        orders = self.tables["orders"]
        reps = self.tables["reps"]
        params = self.truth["customer_params"]
        end = self.config.end
        last_year = orders.filter(pl.col("order_date") > end - timedelta(days=365))
        n_orders = orders["order_id"].n_unique()
        return {
            "regions": int(customers["region"].n_unique()),
            "towns": int(customers["city"].n_unique()),
            "shops": customers.height,
            "served": int((customers["status"] == "served").sum()),
            "prospects": int((customers["status"] == "prospect").sum()),
            "new_in_history": int(params["served_from"].is_not_null().sum()),
            "churned": int(params["churn_date"].is_not_null().sum()),
            "reps": int((reps["role"] == "rep").sum()),
            "merchandisers": int((reps["role"] == "merchandiser").sum()),
            "categories": int(products["category"].n_unique()),
            "products_own": int(products["own"].sum()),
            "products_competitor": int((~products["own"]).sum()),
            "launches": int(self.truth["products"]["launched_in_history"].sum()),
            "promotions": self.tables["promotions"].height,
            "objectives": self.tables["objectives"].height,
            "orders": int(n_orders),
            "order_lines": orders.height,
            "lines_per_order": round(orders.height / max(n_orders, 1), 1),
            "first_order": str(orders["order_date"].min()),
            "last_order": str(orders["order_date"].max()),
            "revenue": round(float(orders["amount"].sum()), 2),
            "revenue_last_12m": round(float(last_year["amount"].sum()), 2),
            "lines_on_promotion": int(orders["promotion_id"].is_not_null().sum()),
            "market_rows": self.tables["market"].height,
            "visits": self.tables["visits"].height,
            "adoption_pairs": self.truth["adoption"].height,
            "future_order_lines": self.truth["future_orders"].height,
            "seconds": round(self.seconds, 2),
        }

    def write(self, directory: str | Path, fmt: str = "parquet") -> dict[str, Path]:
        """Write every canonical table as ``DIR/<name>.<fmt>`` (csv or parquet); return paths."""
        if fmt not in ("csv", "parquet"):
            raise ValueError("fmt must be 'csv' or 'parquet'")
        directory = Path(directory)
        paths: dict[str, Path] = {}
        for name, frame in self.tables.items():
            path = directory / f"{name}.{fmt}"
            if fmt == "csv":
                write_csv(frame, path)
            else:
                write_parquet(frame, path)
            paths[name] = path
        return paths


def generate_demo(
    config: DemoConfig | None = None, progress: Progress | None = None
) -> DemoCompany:
    """Generate the demo company of ``config`` (default: ``DemoConfig()``), deterministically."""
    cfg = config or DemoConfig()
    began = time.perf_counter()

    def report(stage: str, fraction: float) -> None:
        if progress is not None:
            progress(stage, fraction)

    # one independent stream per part, so that changing one part leaves the others unchanged
    (
        r_geo,
        r_shops,
        r_products,
        r_params,
        r_reps,
        r_assign,
        r_taste,
        r_schedule,
        r_promos,
        r_objectives,
        r_orders,
        r_budgets,
        r_visits,
        r_market,
    ) = (np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(14))
    cal = _Calendar.build(cfg)
    report("world", 0.0)
    geo = _geography(r_geo, cfg)
    shops = _shops(r_shops, cfg, geo)
    products = _products(r_products, cfg, cal)
    params = _customer_params(r_params, cfg, cal, shops)
    reps = _reps(r_reps, cfg, geo, shops)
    _assign(r_assign, shops, params, reps)
    report("tastes", 0.1)
    taste = _taste(r_taste, cfg, cal, shops, products, params)
    schedule = _schedule(r_schedule, cfg, cal, shops, params)
    promos = _promotions(r_promos, cfg, cal, geo, products, taste)
    objectives = _objectives(r_objectives, cfg, cal, geo, products)
    report("orders", 0.2)
    sim = _simulate(
        r_orders,
        cfg,
        cal,
        shops,
        params,
        products,
        taste,
        schedule,
        promos,
        objectives,
        lambda f: report("orders", 0.2 + 0.6 * f),
    )
    _set_budgets(r_budgets, cal, promos, sim)
    report("tables", 0.85)
    tables, truth = _frames(cfg, cal, geo, shops, params, reps, products)
    tables["orders"], truth["future_orders"] = _order_frames(cal, shops, products, promos, sim)
    tables["promotions"] = promos.frame(cal, products)
    tables["objectives"] = objectives.frame(cal, products)
    tables["market"] = _market(r_market, cfg, shops, sim)
    tables["visits"] = _visits(r_visits, cal, shops, params, reps, schedule)
    truth.update(_sim_truth(cal, shops, products, taste, promos, sim))
    names = ("orders", "customers", "products", "promotions", "objectives", "reps", "market")
    tables = {name: tables[name] for name in (*names, "visits")}
    report("done", 1.0)
    return DemoCompany(cfg, tables, truth, time.perf_counter() - began)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _sigmoid(x: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-x))


def _offset_for_mean(logits: FloatArray, target: float) -> float:
    """The constant c such that mean(sigmoid(logits + c)) == target (bisection)."""
    lo, hi = -20.0, 20.0
    for _ in range(50):
        mid = (lo + hi) / 2
        if float(_sigmoid(logits + mid).mean()) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _haversine_km(
    lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray
) -> FloatArray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dlat = p2 - p1
    dlon = np.radians(lon2) - np.radians(lon1)
    a = np.sin(dlat / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    return np.asarray(2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), dtype=np.float64)


def _choice_rows(rng: np.random.Generator, probabilities: FloatArray) -> IntArray:
    """One draw per row of a matrix of probabilities (rows sum to 1)."""
    cum = np.cumsum(probabilities, axis=1)
    u = rng.random((probabilities.shape[0], 1)) * cum[:, -1:]
    return np.asarray(np.minimum((u > cum).sum(axis=1), probabilities.shape[1] - 1), np.int64)


def _zscore(x: FloatArray) -> FloatArray:
    sd = float(x.std())
    return np.asarray((x - x.mean()) / (sd if sd > 0 else 1.0), dtype=np.float64)


def _ids(prefix: str, n: int, width: int) -> list[str]:
    return [f"{prefix}{i + 1:0{width}d}" for i in range(n)]


def _dates(cal: _Calendar, days: IntArray) -> pl.Series:
    return pl.Series((days + cal.epoch0).astype(np.int32)).cast(pl.Date)


def _nulls_where(series: pl.Series, missing: BoolArray) -> pl.Series:
    """``series`` with nulls where ``missing`` is true."""
    return pl.select(pl.when(pl.Series(~missing)).then(series)).to_series().alias(series.name)


def _nullable_dates(cal: _Calendar, days: IntArray, name: str) -> pl.Series:
    """Dates of day indices, null where the index is NEVER."""
    never = days >= NEVER
    return _nulls_where(_dates(cal, np.where(never, 0, days)).alias(name), never)


def _concat_int(parts: list[IntArray]) -> IntArray:
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


def _concat_float(parts: list[FloatArray]) -> FloatArray:
    return np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)


@dataclass(frozen=True)
class _Calendar:
    """Day indices (0 = the first day of the history) and what each day is."""

    start: date
    history_days: int  # H: days 0..H-1 are the history
    total_days: int  # history + horizon
    epoch0: int
    month: IntArray  # 1..12 per day
    year: IntArray
    closed: BoolArray  # Sunday or public holiday
    weekday: IntArray  # 0 = Monday

    @classmethod
    def build(cls, cfg: DemoConfig) -> _Calendar:
        history = (cfg.end - cfg.start).days + 1
        total = history + cfg.horizon_days
        span = total + 400
        epoch0 = (cfg.start - date(1970, 1, 1)).days
        days = np.datetime64(cfg.start.isoformat(), "D") + np.arange(span)
        month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
        year = days.astype("datetime64[Y]").astype(np.int64) + 1970
        dom = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
        weekday = (days.astype(np.int64) + 3) % 7
        holiday = ((month == 12) & ((dom == 25) | (dom == 26))) | ((month == 1) & (dom == 1))
        return cls(
            cfg.start,
            history,
            total,
            epoch0,
            month,
            year,
            (weekday == 6) | holiday,
            weekday,
        )

    def open_day(self, days: IntArray) -> IntArray:
        """Move days that fall on a Sunday or a holiday to the next open day."""
        inside = (days >= 0) & (days < len(self.closed) - 4)
        out = np.where(inside, days, 0)
        for _ in range(3):
            out = out + self.closed[out]
        return np.where(inside, out, days).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# The world: geography, shops, products, reps
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Geo:
    region_names: list[str]
    town_names: list[str]
    town_region: IntArray
    town_lat: FloatArray
    town_lon: FloatArray
    town_pop: IntArray
    town_class: IntArray  # 0 capital, 1 town, 2 village


def _geography(rng: np.random.Generator, cfg: DemoConfig) -> _Geo:
    n = cfg.n_regions
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    lat_lo, lat_hi, lon_lo, lon_hi = 48.55, 50.75, 13.9, 18.7
    cell_h, cell_w = (lat_hi - lat_lo) / rows, (lon_hi - lon_lo) / cols
    regions = [_REGION_NAMES[i] if i < len(_REGION_NAMES) else f"Region {i + 1}" for i in range(n)]
    order = rng.permutation(len(regions))
    regions = [regions[i] for i in order]
    k = cfg.towns_per_region
    n_towns_mid = 0 if k == 1 else max(1, round((k - 1) / 3))
    classes = np.array([0] + [1] * n_towns_mid + [2] * (k - 1 - n_towns_mid))
    town_region = np.repeat(np.arange(n), k)
    town_class = np.tile(classes, n)
    row, col = np.divmod(town_region, cols)
    capital = town_class == 0
    frac_lat = np.where(capital, rng.uniform(0.35, 0.65, n * k), rng.uniform(0.08, 0.92, n * k))
    frac_lon = np.where(capital, rng.uniform(0.35, 0.65, n * k), rng.uniform(0.08, 0.92, n * k))
    lat = lat_lo + (row + frac_lat) * cell_h
    lon = lon_lo + (col + frac_lon) * cell_w
    median = np.array([140_000.0, 25_000.0, 2_500.0])[town_class]
    spread = np.array([0.45, 0.5, 0.6])[town_class]
    low = np.array([50_000.0, 8_000.0, 500.0])[town_class]
    high = np.array([600_000.0, 80_000.0, 7_000.0])[town_class]
    pop = np.clip(median * np.exp(rng.normal(0, 1, n * k) * spread), low, high)
    pop = (np.round(pop / 10) * 10).astype(np.int64)
    combos = [p + s for p in _TOWN_PREFIX for s in _TOWN_SUFFIX]
    picked = rng.choice(len(combos), size=min(n * k, len(combos)), replace=False)
    names = [combos[i] for i in picked]
    names += [f"Town {i + 1}" for i in range(len(names), n * k)]
    return _Geo(regions, names, town_region, lat, lon, pop, town_class)


@dataclass
class _Shops:
    n: int
    town: IntArray
    region: IntArray
    channel: IntArray
    chain: IntArray  # index into chain_names, -1 = independent
    chain_names: list[str]
    lat: FloatArray
    lon: FloatArray
    size: FloatArray
    population: IntArray
    potential_base: FloatArray  # yearly purchases of our categories, all suppliers, at day 0
    trend: FloatArray  # yearly log growth of the business
    conversion: FloatArray
    served: BoolArray
    served_idx: IntArray  # shop index of each served shop (simulation order)
    ids: list[str]
    names: list[str]
    addresses: list[str]
    cities: list[str]
    regions: list[str]


def _shops(rng: np.random.Generator, cfg: DemoConfig, geo: _Geo) -> _Shops:
    n = cfg.n_shops
    weights = geo.town_pop.astype(np.float64) ** 0.85
    town = rng.choice(len(weights), size=n, p=weights / weights.sum())
    cls = geo.town_class[town]
    channel = _choice_rows(rng, _CHANNEL_P[cls])
    chain_names: list[str] = []
    chain_index: dict[tuple[int, int], int] = {}
    for ch, members in _CHAINS.items():
        for i, name in enumerate(members):
            chain_index[(ch, i)] = len(chain_names)
            chain_names.append(name)
    chain = np.full(n, -1, dtype=np.int64)
    is_chain = (rng.random(n) < _CHAIN_P[channel]) & (cls < 2)
    pick = rng.integers(0, 3, n)
    for ch, members in _CHAINS.items():
        mask = is_chain & (channel == ch)
        which = pick[mask] % len(members)
        chain[mask] = np.array([chain_index[(ch, w)] for w in range(len(members))])[which]
    pop = geo.town_pop[town]
    spread = 0.006 * (pop / 1000.0) ** 0.33
    lat = geo.town_lat[town] + rng.normal(0, 1, n) * spread
    lon = geo.town_lon[town] + rng.normal(0, 1, n) * spread / 0.65
    size = _SIZE_MEDIAN[channel] * np.exp(rng.normal(0, 1, n) * _SIZE_SD[channel])
    size = np.where((chain >= 0) & (channel == 0), size * 1.7, size)
    size = np.maximum(np.round(size), 4.0)
    log_pot = (
        np.log(_POTENTIAL_MEDIAN[channel])
        + 0.75 * np.log(size / _SIZE_MEDIAN[channel])
        + 0.10 * np.log(pop / 20_000.0)
        + 0.15 * (chain >= 0)
        + rng.normal(0, 0.35, n)
    )
    potential = np.round(np.exp(log_pot), 2)
    trend = rng.normal(0.02, 0.08, n)
    logit = (
        0.9 * _zscore(log_pot)
        + np.array([0.2, 0.2, -0.2])[cls]
        - 0.5 * (chain >= 0)
        + _CONVERSION_EFFECT[channel]
        + rng.normal(0, 0.7, n)
    )
    conversion = _sigmoid(logit + _offset_for_mean(logit, cfg.served_share))
    served = rng.random(n) < conversion
    ids_sorted = _ids("C", n, 5)
    perm = rng.permutation(n)
    ids = [ids_sorted[i] for i in perm]
    names, addresses = _shop_names(rng, channel, chain, chain_names, town, geo)
    return _Shops(
        n=n,
        town=town,
        region=geo.town_region[town],
        channel=channel,
        chain=chain,
        chain_names=chain_names,
        lat=np.round(lat, 5),
        lon=np.round(lon, 5),
        size=size,
        population=pop,
        potential_base=potential,
        trend=trend,
        conversion=conversion,
        served=served,
        served_idx=np.flatnonzero(served),
        ids=ids,
        names=names,
        addresses=addresses,
        cities=[geo.town_names[t] for t in town],
        regions=[geo.region_names[geo.town_region[t]] for t in town],
    )


def _shop_names(
    rng: np.random.Generator,
    channel: IntArray,
    chain: IntArray,
    chain_names: list[str],
    town: IntArray,
    geo: _Geo,
) -> tuple[list[str], list[str]]:
    """Names and street addresses; a name repeated in a town gets its street in brackets."""
    n = len(channel)
    surname = rng.integers(0, len(_SURNAMES), n)
    street = rng.integers(0, len(_STREETS), n)
    kind = rng.integers(0, len(_STREET_KINDS), n)
    number = rng.integers(1, 140, n)
    template = rng.integers(0, 4, n)
    word = rng.integers(0, 1000, n)
    names: list[str] = []
    streets: list[str] = []
    for i in range(n):  # string formatting of a few thousand shops, not of order lines
        s = _SURNAMES[surname[i]]
        st = f"{_STREETS[street[i]]} {_STREET_KINDS[kind[i]]}"
        streets.append(st)
        t = template[i]
        ch = channel[i]
        if chain[i] >= 0:
            names.append(f"{chain_names[chain[i]]} {geo.town_names[town[i]]}")
        elif ch == 0:
            names.append((f"{s} Grocery", f"Grocery {st}", f"Mini Market {s}", f"{s} Food")[t])
        elif ch == 1:
            names.append((f"Kiosk {st}", f"{s} News", f"Tabak {s}", f"Kiosk {s}")[t])
        elif ch == 2:
            names.append(
                (f"{s} Wines & Spirits", f"Liquor {st}", f"{s} Wine Cellar", f"Drinks {s}")[t]
            )
        elif ch == 3:
            w = _BAR_WORDS[word[i] % len(_BAR_WORDS)]
            names.append((f"Bar {w}", f"{w} Pub", f"Café {w}", f"{w} Tavern")[t])
        else:
            w = _PHARMACY_WORDS[word[i] % len(_PHARMACY_WORDS)]
            names.append(f"Pharmacy {w}" if t < 3 else f"{s} Pharmacy")
    frame = pl.DataFrame({"name": names, "town": town, "street": streets})
    repeated = ~pl.struct("name", "town").is_first_distinct()
    named = frame.select(
        pl.when(repeated).then(pl.format("{} ({})", "name", "street")).otherwise(pl.col("name"))
    ).to_series()
    addresses = [f"{st} {k}" for st, k in zip(streets, number, strict=True)]
    return named.to_list(), addresses


@dataclass
class _Products:
    n: int
    n_own: int  # own products are indices 0..n_own-1
    ids: list[str]
    names: list[str]
    brands: list[str]
    vendors: list[str]
    tiers: list[str]
    category: IntArray
    pack: FloatArray
    price: FloatArray  # list price at the end of the history
    cost: FloatArray  # nan for competitors
    launch_day: IntArray  # day index (negative = before the history)
    delist_day: IntArray  # NEVER when active
    active: BoolArray
    popularity: FloatArray
    launched: BoolArray  # launched during the history
    launch_exposure: FloatArray


def _products(rng: np.random.Generator, cfg: DemoConfig, cal: _Calendar) -> _Products:
    cats = CATEGORIES[: cfg.n_categories]
    rows: list[tuple[int, str, str, str, float, int, bool]] = []
    for ours in (True, False):
        per = cfg.own_products_per_category if ours else cfg.competitor_products_per_category
        for c, cat in enumerate(cats):
            brands = cat.own_brands if ours else tuple(b for b, _ in cat.competitors)
            vendors = (OWN_VENDOR,) * len(brands) if ours else tuple(v for _, v in cat.competitors)
            space = [
                (b, v, s)
                for b in range(len(brands))
                for v in range(len(cat.variants))
                for s in range(len(cat.sizes))
            ]
            picked = rng.permutation(len(space))
            lo, hi = cat.price
            size_factor = np.linspace(0.7, 1.9, len(cat.sizes))
            for k in range(per):
                b, v, s = space[picked[k % len(space)]]
                suffix = "" if k < len(space) else f" multipack {k // len(space) + 1}"
                name = f"{brands[b]} {cat.variants[v]} {cat.sizes[s]}{suffix}"
                price = math.exp(rng.uniform(math.log(lo), math.log(hi))) * size_factor[s]
                pack = cat.packs[len(cat.packs) - 1 - min(s, len(cat.packs) - 1)]
                rows.append((c, name, brands[b], vendors[b], round(price, 2), pack, ours))
    n = len(rows)
    n_own = cfg.own_products_per_category * len(cats)
    category = np.array([r[0] for r in rows], dtype=np.int64)
    price = np.array([r[4] for r in rows])
    own = np.arange(n) < n_own
    cost = np.where(own, np.round(price * rng.uniform(0.45, 0.68, n), 2), np.nan)
    launch_day = -rng.integers(365, 365 * 12, n)
    delist_day = np.full(n, NEVER, dtype=np.int64)
    h = cal.history_days
    n_launch = max(1, round(cfg.launch_share * n_own))
    launched_idx = rng.choice(n_own, size=n_launch, replace=False)
    launched = np.zeros(n, dtype=bool)
    launched[launched_idx] = True
    launch_day[launched_idx] = np.sort(rng.integers(min(30, h // 4), max(h - 45, h // 2), n_launch))
    candidates = np.setdiff1d(np.arange(n_own), launched_idx)
    n_delist = round(cfg.delisted_share * n_own)
    delisted = rng.choice(candidates, size=min(n_delist, len(candidates)), replace=False)
    delist_day[delisted] = rng.integers(min(60, h // 3), max(h - 30, h // 2), len(delisted))
    active = delist_day >= NEVER
    comp_inactive = ~own & (rng.random(n) < 0.05)
    active &= ~comp_inactive
    popularity = rng.normal(0, 0.8, n) + 0.5 * launched
    # price tier within the category
    q30 = np.array([np.quantile(price[category == c], 0.3) for c in range(len(cats))])
    q70 = np.array([np.quantile(price[category == c], 0.7) for c in range(len(cats))])
    tier = np.where(price > q70[category], 2, np.where(price < q30[category], 0, 1))
    launch_exposure = np.where(launched, cfg.launch_exposure * rng.uniform(0.7, 1.3, n), 0.0)
    return _Products(
        n=n,
        n_own=n_own,
        ids=_ids("P", n, 4),
        names=[r[1] for r in rows],
        brands=[r[2] for r in rows],
        vendors=[r[3] for r in rows],
        tiers=[("value", "mainstream", "premium")[t] for t in tier],
        category=category,
        pack=np.array([float(r[5]) for r in rows]),
        price=price,
        cost=cost,
        launch_day=launch_day,
        delist_day=delist_day,
        active=active,
        popularity=popularity,
        launched=launched,
        launch_exposure=launch_exposure,
    )


@dataclass
class _Params:
    """Per served shop (simulation order), the parameters of its ordering behaviour."""

    start_day: IntArray  # 0 or the first day it may order
    churn_day: IntArray  # NEVER when it does not churn
    interval: IntArray
    irregular: BoolArray
    weekday: IntArray
    loyalty: FloatArray
    openness: FloatArray
    lines: FloatArray
    value: FloatArray  # expected own sales per year at day 0
    mode: IntArray
    rep: IntArray
    territory_rep: IntArray
    assignment_oddity: BoolArray
    mode_oddity: BoolArray
    visit_every: IntArray
    visits_per_month: FloatArray
    visit_minutes: FloatArray


def _customer_params(
    rng: np.random.Generator, cfg: DemoConfig, cal: _Calendar, shops: _Shops
) -> _Params:
    idx = shops.served_idx
    s = len(idx)
    ch = shops.channel[idx]
    h = cal.history_days
    interval = _INTERVALS[_choice_rows(rng, _INTERVAL_P[ch])]
    irregular = rng.random(s) < cfg.irregular_share
    weekday = rng.choice(6, size=s, p=[0.22, 0.2, 0.2, 0.18, 0.15, 0.05])
    roles = rng.random(s)
    new = roles < cfg.new_share
    churn = (roles >= cfg.new_share) & (roles < cfg.new_share + cfg.churn_share)
    start_day = np.where(new, rng.integers(min(30, h // 4), max(h - 75, h // 2), s), 0)
    churn_day = np.where(churn, rng.integers(min(120, h // 3), max(h - 30, h // 2 + 1), s), NEVER)
    shops.trend[idx[churn]] = rng.normal(-0.05, 0.05, int(churn.sum()))
    loyalty = np.clip(rng.beta(2.4, 2.6, s) - 0.08 * (shops.chain[idx] >= 0), 0.05, 0.85)
    openness = rng.normal(0, 0.5, s)
    size_factor = (shops.size[idx] / _SIZE_MEDIAN[ch]) ** 0.25
    lines = np.clip(_LINES_BASE[ch] * size_factor * (0.6 + 0.8 * loyalty), 4.0, 26.0)
    value = shops.potential_base[idx] * loyalty
    zeros = np.zeros(s, dtype=np.int64)
    return _Params(
        start_day=start_day.astype(np.int64),
        churn_day=churn_day.astype(np.int64),
        interval=interval.astype(np.int64),
        irregular=irregular,
        weekday=weekday.astype(np.int64),
        loyalty=loyalty,
        openness=openness,
        lines=lines,
        value=value,
        mode=zeros.copy(),
        rep=zeros.copy(),
        territory_rep=zeros.copy(),
        assignment_oddity=np.zeros(s, dtype=bool),
        mode_oddity=np.zeros(s, dtype=bool),
        visit_every=np.ones(s, dtype=np.int64),
        visits_per_month=np.zeros(s),
        visit_minutes=np.zeros(s),
    )


@dataclass
class _Reps:
    n: int
    ids: list[str]
    names: list[str]
    region: IntArray
    role: list[str]
    lat: FloatArray
    lon: FloatArray
    capacity: FloatArray
    territory: IntArray  # the rep whose territory holds each served shop


def _reps(rng: np.random.Generator, cfg: DemoConfig, geo: _Geo, shops: _Shops) -> _Reps:
    idx = shops.served_idx
    served_region = shops.region[idx]
    counts = np.bincount(served_region, minlength=cfg.n_regions).astype(np.float64)
    # field reps: one per region, the rest by the largest remainder of the customer counts
    per_region = np.ones(cfg.n_regions, dtype=np.int64)
    extra = cfg.n_reps - cfg.n_regions
    if extra > 0:
        quota = counts / max(counts.sum(), 1.0) * cfg.n_reps - per_region
        quota = np.maximum(quota, 0.0)
        base = np.floor(quota / max(quota.sum(), 1e-9) * extra).astype(np.int64)
        rest = extra - int(base.sum())
        order = np.argsort(-(quota / max(quota.sum(), 1e-9) * extra - base), kind="stable")
        base[order[:rest]] += 1
        per_region += base
    lat: list[float] = []
    lon: list[float] = []
    region: list[int] = []
    role: list[str] = []
    territory = np.zeros(len(idx), dtype=np.int64)
    for r in range(cfg.n_regions):
        in_region = idx[served_region == r]
        if len(in_region) == 0:
            in_region = np.flatnonzero(shops.region == r)
        if len(in_region) == 0:
            towns = np.flatnonzero(geo.town_region == r)
            c_lat, c_lon, _ = _territories(
                geo.town_lat[towns], geo.town_lon[towns], np.ones(len(towns)), int(per_region[r])
            )
        else:
            c_lat, c_lon, label = _territories(
                shops.lat[in_region],
                shops.lon[in_region],
                np.sqrt(shops.potential_base[in_region]),
                int(per_region[r]),
            )
            territory[np.searchsorted(idx, in_region)] = len(role) + label
        # a rep lives near the centre of his territory
        for a, b in zip(c_lat, c_lon, strict=True):
            lat.append(float(a + rng.normal(0, 0.004)))
            lon.append(float(b + rng.normal(0, 0.006)))
            region.append(r)
            role.append("rep")
    # merchandisers: to the regions with the most customers, based in the capital
    order = np.argsort(-counts, kind="stable")
    for m in range(cfg.n_merchandisers):
        r = int(order[m % cfg.n_regions])
        capital = np.flatnonzero((geo.town_region == r) & (geo.town_class == 0))[0]
        lat.append(float(geo.town_lat[capital] + rng.normal(0, 0.01)))
        lon.append(float(geo.town_lon[capital] + rng.normal(0, 0.015)))
        region.append(r)
        role.append("merchandiser")
    n = len(role)
    first = rng.integers(0, len(_FIRST_NAMES), n)
    last = rng.integers(0, len(_SURNAMES), n)
    capacity = np.where(
        np.array(role) == "rep",
        np.round(rng.normal(7200, 400, n) / 60) * 60,
        np.round(rng.normal(8400, 300, n) / 60) * 60,
    )
    return _Reps(
        n=n,
        ids=_ids("R", n, 2),
        names=[f"{_FIRST_NAMES[a]} {_SURNAMES[b]}" for a, b in zip(first, last, strict=True)],
        region=np.array(region, dtype=np.int64),
        role=role,
        lat=np.round(np.array(lat), 5),
        lon=np.round(np.array(lon), 5),
        capacity=capacity,
        territory=territory,
    )


def _territories(
    lat: FloatArray, lon: FloatArray, weight: FloatArray, k: int
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Territories of about equal weight, compact (the way a sales manager draws them).

    Capacitated k-means: points are given, most reluctant first, to the nearest centre that
    still has room; centres move to their weighted centroid. Returns centre lat, lon, label.
    """
    pts = np.column_stack([lat, lon * 0.65])
    n = len(pts)
    k = max(1, min(k, n))
    # start from k points spread along the main axis of the region
    axis = pts[:, 0] + pts[:, 1]
    centres = pts[np.argsort(axis)[((np.arange(k) + 0.5) / k * n).astype(np.int64)]].copy()
    room = weight.sum() / k * 1.15
    label = np.zeros(n, dtype=np.int64)
    for _ in range(12):
        d = np.sqrt(((pts[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2))
        ranked = np.sort(d, axis=1)
        regret = ranked[:, 1] - ranked[:, 0] if k > 1 else np.zeros(n)
        load = np.zeros(k)
        prefs = np.argsort(d, axis=1)
        for i in np.argsort(-regret, kind="stable"):  # a few thousand shops, once per pass
            for c in prefs[i]:
                if load[c] + weight[i] <= room or c == prefs[i, -1]:
                    label[i] = c
                    load[c] += weight[i]
                    break
        for c in range(k):
            members = label == c
            if members.any():
                centres[c] = np.average(pts[members], axis=0, weights=weight[members])
    return centres[:, 0], centres[:, 1] / 0.65, label


def _assign(rng: np.random.Generator, shops: _Shops, params: _Params, reps: _Reps) -> None:
    """Interaction mode, rep, visit frequency and visit length of every served shop."""
    idx = shops.served_idx
    s = len(idx)
    region = shops.region[idx]
    lat, lon = shops.lat[idx], shops.lon[idx]
    dist = _haversine_km(lat[:, None], lon[:, None], reps.lat[None, :], reps.lon[None, :])
    is_rep = np.array(reps.role) == "rep"
    same = region[:, None] == reps.region[None, :]
    field_d = np.where(same & is_rep[None, :], dist, np.inf)
    merch_d = np.where(same & ~is_rep[None, :], dist, np.inf)
    territory = reps.territory
    near_km = field_d[np.arange(s), territory]
    has_merch = np.isfinite(merch_d).any(axis=1)
    value_rank = np.argsort(np.argsort(params.value)) / max(s - 1, 1)
    ch = shops.channel[idx]
    u = rng.random(s)
    mode = np.full(s, _FIELD, dtype=np.int64)
    small = value_rank < 0.35
    far = near_km > 15
    mode[small & far & (u < 0.55)] = _WHOLESALER
    mode[small & far & (u >= 0.55) & (u < 0.85)] = _DIGITAL
    mode[small & ~far & (u < 0.35)] = _DIGITAL
    mode[small & ~far & (u >= 0.35) & (u < 0.45) & ~params.irregular] = _AUTOMATIC
    mid = (value_rank >= 0.35) & (value_rank < 0.7)
    mode[mid & (near_km > 12) & (u < 0.25)] = _VIDEO
    big = (value_rank >= 0.7) & ((ch == 0) | (ch == 4)) & has_merch
    mode[big & (u < 0.5)] = _MERCH
    odd = rng.random(s) < 0.04
    odd_mode = rng.choice([_FIELD, _VIDEO, _DIGITAL, _AUTOMATIC, _WHOLESALER], size=s)
    params.mode_oddity = odd & (odd_mode != mode)
    mode = np.where(odd, odd_mode, mode)
    # rep: the territory's rep of the region (merchandiser for merchandiser shops), some oddities
    rep = territory.copy()
    merch_nearest = merch_d.argmin(axis=1)
    rep = np.where(mode == _MERCH, merch_nearest, rep)
    oddity = (mode != _MERCH) & (rng.random(s) < 0.08)
    alt = np.where(same & is_rep[None, :], rng.random(dist.shape), -1.0)
    alt[np.arange(s), territory] = -1.0
    alt_rep = alt.argmax(axis=1)
    has_alt = alt[np.arange(s), alt_rep] >= 0
    oddity &= has_alt
    rep = np.where(oddity, alt_rep, rep)
    params.mode = mode
    params.rep = rep
    params.territory_rep = territory
    params.assignment_oddity = oddity
    # visits: at every ordering occasion (every other for weekly smaller shops)
    every = np.where((params.interval <= 7) & (value_rank < 0.6), 2, 1)
    contact = (mode == _FIELD) | (mode == _VIDEO) | (mode == _MERCH)
    vpm = np.where(
        contact,
        DAYS_PER_MONTH / (params.interval * every),
        rng.choice([0.0, 1 / 6, 1 / 4, 1 / 3], size=s, p=[0.3, 0.3, 0.25, 0.15]),
    )
    params.visit_every = every.astype(np.int64)
    params.visits_per_month = np.asarray(np.round(vpm, 2), dtype=np.float64)
    size = shops.size[idx]
    field_min = np.clip(12 + 7 * np.log2(np.maximum(size, 4) / 10) + rng.normal(0, 4, s), 15, 75)
    merch_min = np.clip(
        40 + 12 * np.log2(np.maximum(size, 20) / 100) + rng.normal(0, 6, s), 30, 120
    )
    video_min = rng.uniform(12, 25, s)
    check_min = rng.uniform(20, 40, s)
    minutes = np.select(
        [mode == _FIELD, mode == _MERCH, mode == _VIDEO],
        [field_min, merch_min, video_min],
        check_min,
    )
    params.visit_minutes = np.round(minutes / 5) * 5


# ---------------------------------------------------------------------------------------------
# Taste: what each served shop buys, how often, how much, and what it would adopt
# ---------------------------------------------------------------------------------------------


@dataclass
class _Taste:
    """Served shops × own products."""

    score: FloatArray
    init_rep: BoolArray
    drop_day: IntArray
    inclusion: FloatArray
    quantity: FloatArray
    by_pack: BoolArray
    propensity: FloatArray


def _taste(
    rng: np.random.Generator,
    cfg: DemoConfig,
    cal: _Calendar,
    shops: _Shops,
    products: _Products,
    params: _Params,
) -> _Taste:
    idx = shops.served_idx
    s, j = len(idx), products.n_own
    cat = products.category[:j]
    n_towns = int(shops.town.max()) + 1
    d = cfg.taste_dim
    town_taste = rng.normal(0, 1, (n_towns, d))
    town_cat = rng.normal(0, 0.4, (n_towns, cfg.n_categories))
    shop_taste = 0.7 * rng.normal(0, 1, (shops.n, d)) + 0.5 * town_taste[shops.town]
    product_taste = rng.normal(0, 0.5, (products.n, d))
    size_effect = rng.normal(0, 0.3, products.n)
    zsize = _zscore(np.log(shops.size / _SIZE_MEDIAN[shops.channel]))
    # the score is computed for every shop (prospects too, for completeness of the model)
    score_all = (
        products.popularity[None, :j]
        + _AFFINITY[shops.channel][:, cat]
        + town_cat[shops.town][:, cat]
        + shop_taste @ product_taste[:j].T
        + zsize[:, None] * size_effect[None, :j]
        + rng.normal(0, 0.5, (shops.n, j))
    )
    score = score_all[idx]
    # the initial repertoire: draws without replacement with weights exp(score) (Gumbel top-k)
    available0 = ~products.launched[:j][None, :] & np.ones((s, 1), dtype=bool)
    keys = np.where(available0, score + rng.gumbel(size=(s, j)), -np.inf)
    k = np.clip(np.round(params.lines / 0.55), 4, j - 1).astype(np.int64)
    ranks = np.argsort(np.argsort(-keys, axis=1), axis=1)
    init_rep = (ranks < k[:, None]) & available0
    # inclusion probability: favourite products are in nearly every order
    rel = score - np.where(init_rep, score, np.nan).mean(axis=1, where=init_rep, keepdims=True)
    rel = np.nan_to_num(rel)
    inclusion = np.clip(_sigmoid(0.25 + 0.9 * rel + rng.normal(0, 0.5, (s, j))), 0.05, 0.97)
    # quantity: spend weights, calibrated so that expected own sales are potential × loyalty
    weight = np.exp(0.6 * score + rng.normal(0, 0.4, (s, j)))
    gap = params.interval.astype(np.float64)
    orders_per_year = 365.25 / gap * (1 - cfg.skip_probability)
    per_order = params.value / orders_per_year
    denominator = (np.where(init_rep, weight * inclusion, 0.0)).sum(axis=1)
    spend = per_order[:, None] * weight / np.maximum(denominator, 1e-9)[:, None]
    quantity = spend / products.price[None, :j]
    pack = products.pack[None, :j]
    by_pack = (quantity >= 0.7 * pack) & (rng.random((s, j)) < 0.9)
    first = params.start_day[:, None] + 30
    when = first + (rng.random((s, j)) * np.maximum(cal.history_days - first, 1)).astype(np.int64)
    drop_day = np.where(init_rep & (rng.random((s, j)) < cfg.drop_share), when, NEVER)
    # adoption propensity: the same score, the shop's openness, a constant setting the mean
    logits = score + params.openness[:, None]
    lacking = ~init_rep
    c = _offset_for_mean(logits[lacking], cfg.mean_propensity)
    propensity = _sigmoid(logits + c)
    return _Taste(
        score=score,
        init_rep=init_rep,
        drop_day=drop_day,
        inclusion=inclusion,
        quantity=quantity,
        by_pack=by_pack,
        propensity=propensity,
    )


# ---------------------------------------------------------------------------------------------
# Schedule: ordering occasions of each served shop
# ---------------------------------------------------------------------------------------------


@dataclass
class _Schedule:
    shop: IntArray  # served index
    day: IntArray
    k: IntArray  # occasion number
    order: BoolArray  # an order is placed


def _schedule(
    rng: np.random.Generator, cfg: DemoConfig, cal: _Calendar, shops: _Shops, params: _Params
) -> _Schedule:
    s = len(shops.served_idx)
    total = cal.total_days
    k_max = total // 3 + 3
    interval = params.interval
    start = params.start_day
    # regular shops: on their weekday, every interval days, ±1 day
    to_weekday = (params.weekday - cal.weekday[start]) % 7
    first = start + to_weekday + 7 * rng.integers(0, np.maximum(interval // 7, 1))
    ks = np.arange(k_max)
    jitter_p = np.where(interval[:, None] <= 7, 0.05, 0.12)
    u = rng.random((s, k_max))
    jitter = np.where(u < jitter_p, -1, np.where(u > 1 - jitter_p, 1, 0))
    regular = first[:, None] + ks[None, :] * interval[:, None] + jitter
    # irregular shops: gamma gaps of the same mean
    gaps = np.maximum(np.round(rng.gamma(3.0, interval[:, None] / 3.0, (s, k_max))), 3)
    first_irr = start + rng.integers(0, interval)
    irregular = first_irr[:, None] + np.concatenate(
        [np.zeros((s, 1)), np.cumsum(gaps, axis=1)[:, :-1]], axis=1
    ).astype(np.int64)
    days = np.where(params.irregular[:, None], irregular, regular)
    days = np.maximum(days, start[:, None])
    days = cal.open_day(days)
    valid = days < total
    valid[:, 1:] &= days[:, 1:] > days[:, :-1]
    skip = rng.random((s, k_max)) < cfg.skip_probability
    order = valid & ~skip & (days >= start[:, None]) & (days < params.churn_day[:, None])
    shop_grid = np.broadcast_to(np.arange(s)[:, None], (s, k_max))
    k_grid = np.broadcast_to(ks[None, :], (s, k_max))
    return _Schedule(
        shop=shop_grid[valid].astype(np.int64),
        day=days[valid].astype(np.int64),
        k=k_grid[valid].astype(np.int64),
        order=order[valid],
    )


# ---------------------------------------------------------------------------------------------
# Promotions and objectives
# ---------------------------------------------------------------------------------------------


@dataclass
class _Promotions:
    n: int
    start: IntArray
    end: IntArray
    product: IntArray  # own product index or -1 (whole category)
    category: IntArray
    segment: IntArray  # channel or -1
    region: IntArray  # region or -1
    mechanic: IntArray
    value: FloatArray
    lift: FloatArray
    cost_per_use: FloatArray
    budget: FloatArray
    region_names: list[str]

    @property
    def ids(self) -> list[str]:
        return _ids("PR", self.n, 3)

    def eligible(self, shops: _Shops) -> BoolArray:
        """promotions × served shops: the promotion applies to the shop."""
        idx = shops.served_idx
        ch, rg = shops.channel[idx], shops.region[idx]
        seg_ok = (self.segment[:, None] < 0) | (self.segment[:, None] == ch[None, :])
        reg_ok = (self.region[:, None] < 0) | (self.region[:, None] == rg[None, :])
        return np.asarray(seg_ok & reg_ok, dtype=np.bool_)

    def products_of(self, p: int, products: _Products) -> IntArray:
        if self.product[p] >= 0:
            return np.array([self.product[p]], dtype=np.int64)
        return np.flatnonzero(products.category[: products.n_own] == self.category[p])

    def frame(self, cal: _Calendar, products: _Products) -> pl.DataFrame:
        cats = [c.name for c in CATEGORIES]
        return pl.DataFrame(
            {
                "promotion_id": self.ids,
                "start_date": _dates(cal, self.start),
                "end_date": _dates(cal, self.end),
                "product_id": [products.ids[p] if p >= 0 else None for p in self.product],
                "category": [cats[c] for c in self.category],
                "segment": [CHANNELS[c] if c >= 0 else None for c in self.segment],
                "region": [self.region_names[r] if r >= 0 else None for r in self.region],
                "mechanic": [_MECHANICS[m] for m in self.mechanic],
                "value": self.value,
                "cost_per_use": self.cost_per_use,
                "budget_uses": self.budget,
            },
            schema=TABLES["promotions"].polars_schema(),
        )


def _promotions(
    rng: np.random.Generator,
    cfg: DemoConfig,
    cal: _Calendar,
    geo: _Geo,
    products: _Products,
    taste: _Taste,
) -> _Promotions:
    j = products.n_own
    total = cal.total_days
    n_regular = max(3, round(cfg.promotions_per_month * cfg.months))
    start = rng.integers(-20, total - 7, n_regular)
    # a few promotions run across the end of the history, for the next orders
    start[: min(3, n_regular)] = rng.integers(
        cal.history_days - 21, cal.history_days + 3, min(3, n_regular)
    )
    duration = 7 * rng.integers(2, 7, n_regular) - 1
    product_level = rng.random(n_regular) < 0.7
    product = np.full(n_regular, -1, dtype=np.int64)
    for p in np.flatnonzero(product_level):
        ok = np.flatnonzero(
            (products.launch_day[:j] <= start[p]) & (products.delist_day[:j] > start[p] + 14)
        )
        product[p] = int(rng.choice(ok))
    category = np.where(
        product >= 0,
        products.category[np.maximum(product, 0)],
        rng.integers(0, cfg.n_categories, n_regular),
    )
    # launch promotions
    launches = np.flatnonzero(products.launched[:j])
    with_promo = launches[rng.random(len(launches)) < 0.6]
    start = np.concatenate([start, products.launch_day[with_promo]])
    duration = np.concatenate([duration, 7 * rng.integers(4, 9, len(with_promo)) - 1])
    product = np.concatenate([product, with_promo])
    category = np.concatenate([category, products.category[with_promo]])
    n = len(start)
    product_level = product >= 0
    mechanic = np.where(
        product_level,
        np.where(rng.random(n) < 0.6, 0, 1),
        np.where(rng.random(n) < 0.5, 2, 0),
    )
    pct_product = rng.choice([10.0, 15.0, 20.0, 25.0], size=n)
    pct_category = rng.choice([5.0, 8.0, 10.0], size=n)
    pack = products.pack[np.maximum(product, 0)]
    free = np.maximum(1.0, np.round(pack * rng.choice([0.08, 0.17], size=n)))
    value = np.where(mechanic == 1, free, np.where(product_level, pct_product, pct_category))
    noise = rng.normal(0, 0.15, n)
    log_lift = np.select(
        [mechanic == 0, mechanic == 1],
        [0.025 * value + noise, 0.35 + noise],
        0.02 * value + 0.05 + noise,
    )
    lift = np.round(np.clip(np.exp(log_lift), 1.05, 3.0), 3)
    # restrictions: a segment (channel that buys the category) or a region
    affine = _AFFINITY[:, : cfg.n_categories] > 0
    segment = np.full(n, -1, dtype=np.int64)
    for p in np.flatnonzero(rng.random(n) < 0.25):
        segment[p] = int(rng.choice(np.flatnonzero(affine[:, category[p]])))
    region = np.where(rng.random(n) < 0.2, rng.integers(0, cfg.n_regions, n), -1)
    # planned cost of a use: the discount (or free goods) on a typical line
    line_value = taste.quantity * products.price[None, :j]
    held = taste.init_rep.sum(axis=0)
    overall = float(line_value[taste.init_rep].mean()) if taste.init_rep.any() else 50.0
    typical_product = np.where(
        held > 0, (line_value * taste.init_rep).sum(axis=0) / np.maximum(held, 1), overall
    )
    typical_line = np.array(
        [
            typical_product[product[p]]
            if product[p] >= 0
            else float(typical_product[products.category[:j] == category[p]].mean())
            for p in range(n)
        ]
    )
    unit_cost = products.cost[np.maximum(product, 0)]
    cost = np.where(mechanic == 1, value * unit_cost, value / 100.0 * typical_line)
    end = start + duration
    order = np.lexsort((product, end, start))
    return _Promotions(
        n=n,
        start=start[order].astype(np.int64),
        end=end[order].astype(np.int64),
        product=product[order].astype(np.int64),
        category=category[order].astype(np.int64),
        segment=segment[order],
        region=region[order].astype(np.int64),
        mechanic=mechanic[order].astype(np.int64),
        value=value[order].astype(np.float64),
        lift=lift[order],
        cost_per_use=np.asarray(np.round(cost[order], 2), dtype=np.float64),
        budget=np.zeros(n),
        region_names=geo.region_names,
    )


def _set_budgets(rng: np.random.Generator, cal: _Calendar, promos: _Promotions, sim: _Sim) -> None:
    """Budgets a planner would have set: the uses the promotion had, with 20-100 % to spare."""
    uses = np.bincount(sim.promo[sim.promo >= 0], minlength=promos.n).astype(np.float64)
    length = (promos.end - promos.start + 1).astype(np.float64)
    seen = np.clip(np.minimum(promos.end, cal.total_days - 1) - promos.start + 1, 1, None)
    expected = uses * length / seen
    budget = np.ceil(np.maximum(expected, 5) * rng.uniform(1.2, 2.0, promos.n) / 10) * 10
    promos.budget = budget


@dataclass
class _Objectives:
    product: IntArray
    weight: FloatArray
    segment: IntArray
    region: IntArray
    start: IntArray
    end: IntArray
    region_names: list[str]

    def frame(self, cal: _Calendar, products: _Products) -> pl.DataFrame:
        segment = [CHANNELS[c] if c >= 0 else None for c in self.segment]
        return pl.DataFrame(
            {
                "product_id": [products.ids[p] for p in self.product],
                "weight": self.weight,
                "segment": segment,
                "region": [self.region_names[r] if r >= 0 else None for r in self.region],
                "channel": segment,
                "start_date": _dates(cal, self.start),
                "end_date": _dates(cal, self.end),
            },
            schema=TABLES["objectives"].polars_schema(),
        )


def _objectives(
    rng: np.random.Generator, cfg: DemoConfig, cal: _Calendar, geo: _Geo, products: _Products
) -> _Objectives:
    j = products.n_own
    cat = products.category[:j]
    margin = (products.price[:j] - products.cost[:j]) / products.price[:j]
    rows: list[tuple[int, float, int, int, int, int]] = []
    # yearly must-sell lists per segment, a quarter of them for one region only
    years = sorted({int(y) for y in cal.year[: cal.total_days]})
    for year in years:
        first = int(np.argmax(cal.year == year))
        last = int(len(cal.year) - 1 - np.argmax(cal.year[::-1] == year))
        for ch in range(len(CHANNELS)):
            affinity = _AFFINITY[ch, cat]
            ok = (
                (products.launch_day[:j] <= first)
                & (products.delist_day[:j] > last)
                & (affinity > 0)
            )
            if not ok.any():
                continue
            w = np.where(ok, np.exp(products.popularity[:j] + affinity) * margin, 0.0)
            count = min(cfg.objectives_per_segment, int(ok.sum()))
            chosen = rng.choice(j, size=count, replace=False, p=w / w.sum())
            for p in chosen:
                region = int(rng.integers(0, cfg.n_regions)) if rng.random() < 0.25 else -1
                rows.append((int(p), float(rng.choice([1.0, 2.0, 3.0])), ch, region, first, last))
    # launches: must-sell for the two segments that fit them best, for half a year
    for p in np.flatnonzero(products.launched[:j]):
        best = np.argsort(-_AFFINITY[:, cat[p]])[:2]
        for ch in best:
            day = int(products.launch_day[p])
            rows.append((int(p), 3.0, int(ch), -1, day, day + 181))
    seen: set[tuple[int, int, int, int]] = set()
    unique = []
    for r in rows:
        key = (r[0], r[2], r[3], r[4])
        if key not in seen:
            seen.add(key)
            unique.append(r)
    arr = np.array(unique, dtype=np.float64).reshape(-1, 6)
    order = np.lexsort((arr[:, 0], arr[:, 2], arr[:, 4]))
    arr = arr[order]
    return _Objectives(
        product=arr[:, 0].astype(np.int64),
        weight=arr[:, 1],
        segment=arr[:, 2].astype(np.int64),
        region=arr[:, 3].astype(np.int64),
        start=arr[:, 4].astype(np.int64),
        end=arr[:, 5].astype(np.int64),
        region_names=geo.region_names,
    )


# ---------------------------------------------------------------------------------------------
# The simulation of the order lines
# ---------------------------------------------------------------------------------------------


@dataclass
class _Sim:
    """Every generated line (history and horizon), plus adoption events."""

    shop: IntArray  # served index
    day: IntArray
    product: IntArray
    quantity: FloatArray
    amount: FloatArray
    unit_price: FloatArray
    promo: IntArray
    order_shop: IntArray  # one row per order
    order_day: IntArray
    adopt_shop: IntArray
    adopt_product: IntArray
    adopt_day: IntArray
    adopt_promo: IntArray


def _season(cfg: DemoConfig) -> FloatArray:
    """category × month (index 0 unused) factor, mean 1 over the year."""
    table = np.ones((cfg.n_categories, 13))
    months = np.arange(1, 13)
    for c, cat in enumerate(CATEGORIES[: cfg.n_categories]):
        table[c, 1:] = 1 + cat.season_amplitude * np.cos(
            2 * np.pi * (months - cat.season_peak) / 12
        )
    return table


def _simulate(
    rng: np.random.Generator,
    cfg: DemoConfig,
    cal: _Calendar,
    shops: _Shops,
    params: _Params,
    products: _Products,
    taste: _Taste,
    schedule: _Schedule,
    promos: _Promotions,
    objectives: _Objectives,
    progress: Callable[[float], None],
) -> _Sim:
    j = products.n_own
    cat = products.category[:j]
    season = _season(cfg)
    promo_elig = promos.eligible(shops)
    promo_cols = [promos.products_of(p, products) for p in range(promos.n)]
    obj_elig = _objective_eligible(objectives, shops)
    # list price at each day: lower by price_increase before each 1 January inside the history
    new_years = np.flatnonzero(np.diff(cal.year[: cal.history_days]) == 1) + 1
    launch_day = products.launch_day[:j]
    delist_day = products.delist_day[:j]
    churn = params.churn_day
    trend = shops.trend[shops.served_idx]

    order_rows = np.flatnonzero(schedule.order)
    o_shop = schedule.shop[order_rows]
    o_day = schedule.day[order_rows]
    # chunks of whole shops, about 6000 orders each
    bounds = np.searchsorted(o_shop, np.arange(len(shops.served_idx) + 1))
    chunks: list[tuple[int, int]] = []
    lo = 0
    while lo < len(shops.served_idx):
        hi = int(np.searchsorted(bounds, bounds[lo] + 6000, side="right")) - 1
        hi = max(hi, lo + 1)
        chunks.append((lo, min(hi, len(shops.served_idx))))
        lo = min(hi, len(shops.served_idx))
    ints: dict[str, list[IntArray]] = {
        k: []
        for k in ("shop", "day", "product", "promo", "a_shop", "a_product", "a_day", "a_promo")
    }
    ints.update({"o_shop": [], "o_day": []})
    floats: dict[str, list[FloatArray]] = {"quantity": [], "amount": [], "price": []}
    for number, (s_lo, s_hi) in enumerate(chunks):
        r_lo, r_hi = int(bounds[s_lo]), int(bounds[s_hi])
        if r_hi == r_lo:
            continue
        shop = o_shop[r_lo:r_hi]
        day = o_day[r_lo:r_hi]
        r = len(day)
        avail = (launch_day[None, :] <= day[:, None]) & (day[:, None] < delist_day[None, :])
        lift = np.ones((r, j), dtype=np.float32)
        pid = np.full((r, j), -1, dtype=np.int32)
        for p in range(promos.n):
            rows = np.flatnonzero(
                (day >= promos.start[p]) & (day <= promos.end[p]) & promo_elig[p, shop]
            )
            if len(rows) == 0:
                continue
            cols = promo_cols[p]
            sub = lift[np.ix_(rows, cols)]
            better = promos.lift[p] > sub
            sub_id = pid[np.ix_(rows, cols)]
            lift[np.ix_(rows, cols)] = np.where(better, np.float32(promos.lift[p]), sub)
            pid[np.ix_(rows, cols)] = np.where(better, p, sub_id)
        exposure = np.full((r, j), cfg.exposure, dtype=np.float32)
        for q in np.flatnonzero(products.launched[:j]):
            since = day - launch_day[q]
            boost = products.launch_exposure[q] * np.exp(-np.maximum(since, 0) / 120.0)
            exposure[:, q] += np.where(since >= 0, boost, 0.0).astype(np.float32)
        for o in range(len(objectives.product)):
            rows = np.flatnonzero(
                (day >= objectives.start[o]) & (day <= objectives.end[o]) & obj_elig[o, shop]
            )
            exposure[rows, objectives.product[o]] *= 2.0
        init = taste.init_rep[shop]
        hazard = np.minimum(taste.propensity[shop].astype(np.float32) * lift, 1.0) * exposure
        hazard[(init & (day[:, None] < taste.drop_day[shop])) | ~avail] = 0.0
        success = rng.random((r, j), dtype=np.float32) < hazard
        cum = np.cumsum(success, axis=0, dtype=np.int32)
        first_row = bounds[s_lo:s_hi] - r_lo  # first row of each shop of the chunk
        local = shop - s_lo
        before = np.where(first_row[:, None] > 0, cum[np.maximum(first_row - 1, 0)], 0)
        count = cum - before[local]
        adopted = count > 0
        first_adoption = success & (count == 1)
        in_rep = (init & (day[:, None] < taste.drop_day[shop])) | adopted
        p_line = np.minimum(taste.inclusion[shop].astype(np.float32) * lift, 0.98)
        include = (
            in_rep & avail & ((rng.random((r, j), dtype=np.float32) < p_line) | first_adoption)
        )
        # an order has at least one line: its most likely available product
        empty = ~include.any(axis=1)
        if empty.any():
            candidates = np.where(in_rep & avail, taste.inclusion[shop], -1.0)
            best = candidates.argmax(axis=1)
            fix = empty & (candidates[np.arange(r), best] > 0)
            include[np.flatnonzero(fix), best[fix]] = True
        keep_order = include.any(axis=1)
        ints["o_shop"].append(shop[keep_order])
        ints["o_day"].append(day[keep_order])
        rr, jj = np.nonzero(include)
        ls = shop[rr]
        ld = day[rr]
        l_lift = lift[rr, jj].astype(np.float64)
        l_pid = pid[rr, jj].astype(np.int64)
        years = ld / 365.25
        factor = (
            taste.quantity[ls, jj]
            * season[cat[jj], cal.month[ld]]
            * np.exp(trend[ls] * years)
            * l_lift
            * np.exp(rng.normal(-(0.25**2) / 2, 0.25, len(rr)))
        )
        factor = np.where(first_adoption[rr, jj], factor * 0.6, factor)
        ramp = np.clip(1 - 0.5 * (ld - (churn[ls] - 180)) / 180, 0.5, 1.0)
        factor = factor * np.where(churn[ls] < NEVER, ramp, 1.0)
        pack = products.pack[jj]
        qty = np.where(
            taste.by_pack[ls, jj],
            np.maximum(np.round(factor / pack), 1) * pack,
            np.maximum(np.round(factor), 1),
        )
        rises = (new_years[None, :] > ld[:, None]).sum(axis=1)
        price = np.round(products.price[jj] / (1 + cfg.price_increase) ** rises, 2)
        mech = np.where(l_pid >= 0, promos.mechanic[np.maximum(l_pid, 0)], -1)
        val = np.where(l_pid >= 0, promos.value[np.maximum(l_pid, 0)], 0.0)
        free = np.where(mech == 1, val, 0.0)
        discount = np.where((mech == 0) | (mech == 2), val / 100.0, 0.0)
        amount = np.round(qty * price * (1 - discount), 2)
        ints["shop"].append(ls)
        ints["day"].append(ld)
        ints["product"].append(jj.astype(np.int64))
        ints["promo"].append(l_pid)
        floats["quantity"].append(qty + free)
        floats["amount"].append(amount)
        floats["price"].append(price)
        ar, aj = np.nonzero(first_adoption)
        ints["a_shop"].append(shop[ar])
        ints["a_product"].append(aj.astype(np.int64))
        ints["a_day"].append(day[ar])
        ints["a_promo"].append(pid[ar, aj].astype(np.int64))
        progress((number + 1) / len(chunks))

    i = {k: _concat_int(v) for k, v in ints.items()}
    f = {k: _concat_float(v) for k, v in floats.items()}
    return _Sim(
        shop=i["shop"],
        day=i["day"],
        product=i["product"],
        quantity=f["quantity"],
        amount=f["amount"],
        unit_price=f["price"],
        promo=i["promo"],
        order_shop=i["o_shop"],
        order_day=i["o_day"],
        adopt_shop=i["a_shop"],
        adopt_product=i["a_product"],
        adopt_day=i["a_day"],
        adopt_promo=i["a_promo"],
    )


def _objective_eligible(objectives: _Objectives, shops: _Shops) -> BoolArray:
    idx = shops.served_idx
    ch, rg = shops.channel[idx], shops.region[idx]
    seg_ok = (objectives.segment[:, None] < 0) | (objectives.segment[:, None] == ch[None, :])
    reg_ok = (objectives.region[:, None] < 0) | (objectives.region[:, None] == rg[None, :])
    return np.asarray(seg_ok & reg_ok, dtype=np.bool_)


# ---------------------------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------------------------


def _frames(
    cfg: DemoConfig,
    cal: _Calendar,
    geo: _Geo,
    shops: _Shops,
    params: _Params,
    reps: _Reps,
    products: _Products,
) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame]]:
    """customers, products and reps; the truth about customers, products and seasons."""
    n = shops.n
    idx = shops.served_idx
    rep_ix = np.full(n, -1, dtype=np.int64)
    rep_ix[idx] = params.rep
    mode_ix = np.full(n, -1, dtype=np.int64)
    mode_ix[idx] = params.mode
    vpm = np.full(n, np.nan)
    vpm[idx] = params.visits_per_month
    channel = [CHANNELS[c] for c in shops.channel]
    customers = pl.DataFrame(
        {
            "customer_id": shops.ids,
            "name": shops.names,
            "address": shops.addresses,
            "city": shops.cities,
            "region": shops.regions,
            "latitude": shops.lat,
            "longitude": shops.lon,
            "channel": channel,
            "chain": [shops.chain_names[c] if c >= 0 else None for c in shops.chain],
            "status": ["served" if s else "prospect" for s in shops.served],
            "rep_id": [reps.ids[r] if r >= 0 else None for r in rep_ix],
            "interaction_mode": [_MODES[m] if m >= 0 else None for m in mode_ix],
            "visits_per_month": pl.Series(vpm).fill_nan(None),
            "segment": channel,
            "size": shops.size,
            "population": shops.population,
        },
        schema_overrides={**TABLES["customers"].polars_schema(), "population": pl.Int64},
    ).sort("customer_id")
    cats = [c.name for c in CATEGORIES]
    products_frame = pl.DataFrame(
        {
            "product_id": products.ids,
            "name": products.names,
            "category": [cats[c] for c in products.category],
            "brand": products.brands,
            "vendor": products.vendors,
            "own": np.arange(products.n) < products.n_own,
            "pack_size": products.pack,
            "unit_price": products.price,
            "unit_cost": pl.Series(products.cost).fill_nan(None),
            "launch_date": _dates(cal, products.launch_day),
            "active": products.active,
            "tier": products.tiers,
        },
        schema_overrides=TABLES["products"].polars_schema(),
    )
    reps_frame = pl.DataFrame(
        {
            "rep_id": reps.ids,
            "latitude": reps.lat,
            "longitude": reps.lon,
            "capacity_minutes": reps.capacity,
            "name": reps.names,
            "region": [geo.region_names[r] for r in reps.region],
            "role": reps.role,
        },
        schema=TABLES["reps"].polars_schema(),
    )
    served_ids = [shops.ids[i] for i in idx]
    served_params = pl.DataFrame(
        {
            "customer_id": served_ids,
            "served_from": _nullable_dates(
                cal, np.where(params.start_day > 0, params.start_day, NEVER), "served_from"
            ),
            "churn_date": _nullable_dates(cal, params.churn_day, "churn_date"),
            "order_interval_days": params.interval.astype(np.float64),
            "irregular": params.irregular,
            "order_weekday": params.weekday,
            "skip_probability": np.full(len(idx), cfg.skip_probability),
            "loyalty": np.round(params.loyalty, 4),
            "openness": np.round(params.openness, 4),
            "lines_per_order": np.round(params.lines, 2),
            "territory_rep_id": [reps.ids[r] for r in params.territory_rep],
            "assignment_oddity": params.assignment_oddity,
            "mode_oddity": params.mode_oddity,
            "visit_every_orders": params.visit_every,
        }
    )
    all_params = pl.DataFrame(
        {
            "customer_id": shops.ids,
            "status": ["served" if s else "prospect" for s in shops.served],
            "trend": np.round(shops.trend, 4),
            "potential_base": shops.potential_base,
            "conversion_propensity": np.round(shops.conversion, 4),
        }
    )
    customer_params = (
        all_params.join(served_params, on="customer_id", how="left")
        .select(
            "customer_id",
            "status",
            "served_from",
            "churn_date",
            "order_interval_days",
            "irregular",
            "order_weekday",
            "skip_probability",
            "loyalty",
            "trend",
            "openness",
            "lines_per_order",
            "potential_base",
            "conversion_propensity",
            "territory_rep_id",
            "assignment_oddity",
            "mode_oddity",
            "visit_every_orders",
        )
        .sort("customer_id")
    )
    product_truth = pl.DataFrame(
        {
            "product_id": products.ids,
            "own": np.arange(products.n) < products.n_own,
            "popularity": np.round(products.popularity, 4),
            "launched_in_history": products.launched,
            "delisted_on": _nullable_dates(cal, products.delist_day, "delisted_on"),
            "launch_exposure": np.round(products.launch_exposure, 4),
        }
    )
    season = _season(cfg)
    seasonality = pl.DataFrame(
        {
            "category": [cats[c] for c in range(cfg.n_categories) for _ in range(12)],
            "month": [m for _ in range(cfg.n_categories) for m in range(1, 13)],
            "factor": np.round(season[:, 1:].reshape(-1), 4),
        }
    )
    tables = {"customers": customers, "products": products_frame, "reps": reps_frame}
    truth = {
        "customer_params": customer_params,
        "products": product_truth,
        "seasonality": seasonality,
    }
    return tables, truth


def _order_frames(
    cal: _Calendar, shops: _Shops, products: _Products, promos: _Promotions, sim: _Sim
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The order lines of the history and of the horizon after it, ids in date order."""
    n_served = len(shops.served_idx)
    order_keys = np.sort(sim.order_day * n_served + sim.order_shop)
    number = np.searchsorted(order_keys, sim.day * n_served + sim.shop)
    rows = np.lexsort((sim.product, number))
    number = number[rows]
    promo = sim.promo[rows]
    order_ids = pl.Series(_ids("O", len(order_keys), 7), dtype=pl.String)
    served_ids = pl.Series([shops.ids[i] for i in shops.served_idx], dtype=pl.String)
    served_channels = pl.Series([CHANNELS[c] for c in shops.channel[shops.served_idx]])
    product_ids = pl.Series(products.ids[: products.n_own], dtype=pl.String)
    promo_ids = pl.Series(promos.ids, dtype=pl.String)
    frame = pl.DataFrame(
        {
            "customer_id": served_ids.gather(sim.shop[rows]),
            "order_id": order_ids.gather(number),
            "order_date": _dates(cal, sim.day[rows]),
            "product_id": product_ids.gather(sim.product[rows]),
            "quantity": sim.quantity[rows],
            "amount": sim.amount[rows],
            "unit_price": sim.unit_price[rows],
            "promotion_id": _nulls_where(promo_ids.gather(np.maximum(promo, 0)), promo < 0),
            "channel": served_channels.gather(sim.shop[rows]),
        },
        schema=TABLES["orders"].polars_schema(),
    )
    history = sim.day[rows] < cal.history_days
    return frame.filter(pl.Series(history)), frame.filter(pl.Series(~history))


def _visits(
    rng: np.random.Generator,
    cal: _Calendar,
    shops: _Shops,
    params: _Params,
    reps: _Reps,
    schedule: _Schedule,
) -> pl.DataFrame:
    """Visits of the history, consistent with each served shop's visits_per_month."""
    h = cal.history_days
    mode = params.mode
    contact = (mode == _FIELD) | (mode == _VIDEO) | (mode == _MERCH)
    # contact shops: every (visit_every)-th ordering occasion, half as often after a churn
    s, d, k = schedule.shop, schedule.day, schedule.k
    every = params.visit_every[s]
    churned = d >= params.churn_day[s]
    visit = (
        contact[s]
        & (d < h)
        & (d >= params.start_day[s])
        & np.where(churned, k % (2 * every) == 0, k % every == 0)
    )
    v_shop, v_day = s[visit], d[visit]
    # the others: a field check every few months
    others = np.flatnonzero(~contact & (params.visits_per_month > 0))
    if len(others):
        period = np.round(DAYS_PER_MONTH / params.visits_per_month[others]).astype(np.int64)
        k_max = h // int(period.min()) + 2
        first = params.start_day[others] + rng.integers(0, period)
        days = first[:, None] + np.arange(k_max)[None, :] * period[:, None]
        days = cal.open_day(days + rng.integers(-3, 4, days.shape))
        ok = (days < h) & (days >= params.start_day[others][:, None])
        v_shop = np.concatenate([v_shop, np.broadcast_to(others[:, None], days.shape)[ok]])
        v_day = np.concatenate([v_day, days[ok]])
    minutes = params.visit_minutes[v_shop] + 5 * rng.integers(-1, 2, len(v_shop))
    minutes = np.maximum(minutes, 5.0)
    modes = np.where(contact[v_shop], mode[v_shop], _FIELD)
    served_ids = pl.Series([shops.ids[i] for i in shops.served_idx], dtype=pl.String)
    rep_ids = pl.Series(reps.ids, dtype=pl.String)
    mode_names = pl.Series(_MODES, dtype=pl.String)
    return pl.DataFrame(
        {
            "customer_id": served_ids.gather(v_shop),
            "visit_date": _dates(cal, v_day),
            "rep_id": rep_ids.gather(params.rep[v_shop]),
            "duration_minutes": minutes.astype(np.float64),
            "mode": mode_names.gather(modes),
        },
        schema=TABLES["visits"].polars_schema(),
    ).sort("visit_date", "customer_id")


def _periods(cfg: DemoConfig) -> list[tuple[str, int, int]]:
    """Market periods: calendar years inside the history, else its full months."""
    start, end = cfg.start, cfg.end
    years = [
        (str(y), (date(y, 1, 1) - start).days, (date(y, 12, 31) - start).days)
        for y in range(start.year, end.year + 1)
        if date(y, 1, 1) >= start and date(y, 12, 31) <= end
    ]
    if years:
        return years
    months: list[tuple[str, int, int]] = []
    y, m = start.year, start.month
    while date(y, m, 1) <= end:
        first = date(y, m, 1)
        nxt = date(y + m // 12, m % 12 + 1, 1)
        if first >= start and nxt - timedelta(days=1) <= end:
            months.append((f"{y}-{m:02d}", (first - start).days, (nxt - start).days - 1))
        y, m = nxt.year, nxt.month
    return months


def _true_total(shops: _Shops, first: int, last: int) -> FloatArray:
    """True purchases of every shop from all suppliers over days first..last (the model)."""
    days = np.arange(first, last + 1) / 365.25
    growth = np.exp(shops.trend[:, None] * days[None, :]).mean(axis=1)
    return np.asarray(shops.potential_base * growth * (last - first + 1) / 365.25, np.float64)


def _own_sales(shops: _Shops, sim: _Sim, first: int, last: int) -> FloatArray:
    """Our real sales to every shop over days first..last."""
    in_window = (sim.day >= first) & (sim.day <= last)
    shop = shops.served_idx[sim.shop[in_window]]
    sales = np.bincount(shop, weights=sim.amount[in_window], minlength=shops.n)
    return np.asarray(sales, dtype=np.float64)


def _market(rng: np.random.Generator, cfg: DemoConfig, shops: _Shops, sim: _Sim) -> pl.DataFrame:
    n = shops.n
    observed = rng.random(n) < cfg.market_share
    audit = rng.random(n) < 0.3
    frames = []
    for label, first, last in _periods(cfg):
        own = _own_sales(shops, sim, first, last)
        total = np.maximum(_true_total(shops, first, last), own)
        noise = np.exp(rng.normal(0, 1, n) * np.where(audit, 0.05, 0.10))
        measured = np.round(np.maximum(total * noise, own), 2)
        own_amount = _nulls_where(pl.Series("own_amount", np.round(own, 2)), ~shops.served)
        frames.append(
            pl.DataFrame(
                {
                    "customer_id": shops.ids,
                    "period": [label] * n,
                    "total_amount": measured,
                    "category": [None] * n,
                    "own_amount": own_amount,
                    "source": np.where(audit, "audit", "panel"),
                },
                schema=TABLES["market"].polars_schema(),
            ).filter(pl.Series(observed))
        )
    if not frames:
        return TABLES["market"].empty()
    return pl.concat(frames).sort("customer_id", "period")


def _sim_truth(
    cal: _Calendar,
    shops: _Shops,
    products: _Products,
    taste: _Taste,
    promos: _Promotions,
    sim: _Sim,
) -> dict[str, pl.DataFrame]:
    """The truth tables computed from the simulation: potential, adoption, lifts, repertoire."""
    h = cal.history_days
    j = products.n_own
    n_served = len(shops.served_idx)
    served_ids = pl.Series([shops.ids[i] for i in shops.served_idx], dtype=pl.String)
    product_ids = pl.Series(products.ids[:j], dtype=pl.String)
    promo_ids = pl.Series(promos.ids, dtype=pl.String)
    # potential over the last 12 months (or the whole shorter history), annualised
    first = max(0, h - 365)
    scale = 365.25 / (h - first)
    model = _true_total(shops, first, h - 1) * scale
    own = _own_sales(shops, sim, first, h - 1) * scale
    potential_value = np.maximum(model, own)
    potential = pl.DataFrame(
        {
            "customer_id": shops.ids,
            "status": ["served" if s else "prospect" for s in shops.served],
            "potential": np.round(potential_value, 2),
            "own_amount": np.round(own, 2),
            "share_of_wallet": np.round(own / potential_value, 4),
            "competitor_amount": np.round(potential_value - own, 2),
        }
    ).sort("customer_id")
    # adoption: served × own products available at the end, never bought in the history
    hist = sim.day < h
    bought = np.zeros((n_served, j), dtype=bool)
    bought[sim.shop[hist], sim.product[hist]] = True
    available = (products.launch_day[:j] < h) & (products.delist_day[:j] >= h)
    lacking = ~bought & available[None, :]
    in_rep = taste.init_rep & (taste.drop_day >= h) & lacking
    ss, pp = np.nonzero(lacking)
    propensity = np.where(in_rep, taste.inclusion, taste.propensity)[ss, pp]
    adoption = pl.DataFrame(
        {
            "customer_id": served_ids.gather(ss),
            "product_id": product_ids.gather(pp),
            "propensity": np.round(propensity, 5),
            "in_repertoire": in_rep[ss, pp],
        }
    ).sort("customer_id", "product_id")
    # promotions
    uses = np.bincount(sim.promo[hist & (sim.promo >= 0)], minlength=promos.n)
    uses_future = np.bincount(sim.promo[~hist & (sim.promo >= 0)], minlength=promos.n)
    promotion_lift = pl.DataFrame(
        {"promotion_id": promos.ids, "lift": promos.lift, "uses": uses, "uses_future": uses_future}
    )
    # repertoire: products held at the start plus adoptions in the history
    rs, rp = np.nonzero(taste.init_rep)
    adopted = sim.adopt_day < h
    a_s, a_p = sim.adopt_shop[adopted], sim.adopt_product[adopted]
    shop = np.concatenate([rs, a_s])
    prod = np.concatenate([rp, a_p])
    adopted_on = np.concatenate([np.full(len(rs), NEVER), sim.adopt_day[adopted]])
    a_promo = np.concatenate([np.full(len(rs), -1), sim.adopt_promo[adopted]])
    dropped = np.concatenate([taste.drop_day[rs, rp], np.full(len(a_s), NEVER)])
    dropped = np.where(dropped < h, dropped, NEVER)
    repertoire = pl.DataFrame(
        {
            "customer_id": served_ids.gather(shop),
            "product_id": product_ids.gather(prod),
            "inclusion_probability": np.round(taste.inclusion[shop, prod], 4),
            "base_quantity": np.round(taste.quantity[shop, prod], 3),
            "by_pack": taste.by_pack[shop, prod],
            "adopted_on": _nullable_dates(cal, adopted_on, "adopted_on"),
            "adoption_promotion_id": _nulls_where(
                promo_ids.gather(np.maximum(a_promo, 0)), a_promo < 0
            ),
            "dropped_on": _nullable_dates(cal, dropped, "dropped_on"),
        }
    ).sort("customer_id", "product_id", "adopted_on", nulls_last=False)
    return {
        "potential": potential,
        "adoption": adoption,
        "promotion_lift": promotion_lift,
        "repertoire": repertoire,
    }
