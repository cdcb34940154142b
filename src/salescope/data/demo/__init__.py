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

from salescope.data.demo.company import DemoCompany, generate_demo
from salescope.data.demo.config import DemoConfig
from salescope.data.demo.constants import DAYS_PER_MONTH, NEVER, OWN_VENDOR, Progress

__all__ = [
    "DAYS_PER_MONTH",
    "NEVER",
    "OWN_VENDOR",
    "DemoCompany",
    "DemoConfig",
    "Progress",
    "generate_demo",
]
