"""The demo world's constants: channels, categories, word lists, array types."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

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
