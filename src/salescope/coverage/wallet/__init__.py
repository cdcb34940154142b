"""Share of wallet and potential of every shop of the market universe.

``potential`` is the shop's total yearly purchases of the category from all suppliers (us and
competitors); ``share_of_wallet`` is our part of it. Where market rows exist the potential is
*observed* (the latest 12 months of market periods, annualised; ``YYYY`` and ``YYYY-MM`` periods,
categories summed); elsewhere it is *estimated*, with a range, by ``WalletEstimator``:

* target: log(1 + yearly total) of the shops with market data;
* features, all optional, taken from whatever the files carry:
  - the shop's own purchase pattern with us in the same window (revenue, volume, orders,
    products, categories, months active, recency, tenure, price level, category mix, the
    12 months before and the months after the window);
  - its attributes: every numeric column of customers, every categorical one (channel, chain,
    region, city, any extra column) as frequency, smoothed out-of-fold target mean and, when it
    has few levels, a native categorical; the words of its name (chains and store types hide
    there);
  - location: coordinates, the density of shops around it (distance to the 1st, 5th and 20th
    nearest), our sales to its neighbours, and its nearest observed neighbours' totals and
    total/own ratios (spatial k-NN, recomputed inside every cross-validation fold);
* model: gradient boosting (LightGBM), cross-validated on the shops with market data
  (Spearman, error, and the coverage of the range, against the baseline "own sales / median
  share of wallet");
* shops not buying from us: many shops of a universe buy nothing at all in a year (closed, not
  yet open), which one regression on log totals ranks poorly; their estimate blends it
  (``hurdle_weight``) with a hurdle model: P(buys anything) from a classifier × the total of a
  shop that buys, from a regression on the shops that buy something;
* range: split-conformal quantiles of the cross-validated log residuals, separately for shops
  that buy from us and shops that do not (their uncertainty differs a lot).

Identifier columns (``customer_id``, ``*_id``, ``*_number``, ``zip``, ``phone``…) are never
numeric features: at most their levels are (a zip code's area).

With too few market rows (fewer than ``min_observed``), a shop's potential is its own yearly
sales divided by ``default_share`` and the others are estimated from their attributes by the
same model trained on those pseudo-totals, with a wide range: a fallback that says so in
``method_``.
"""

from salescope.coverage.wallet.estimator import WalletEstimator
from salescope.coverage.wallet.features import NOT_ATTRIBUTES, is_identifier
from salescope.coverage.wallet.market import market_periods, observed_totals
from salescope.coverage.wallet.params import WalletCV, WalletParams, WalletWindow

__all__ = [
    "NOT_ATTRIBUTES",
    "WalletCV",
    "WalletEstimator",
    "WalletParams",
    "WalletWindow",
    "is_identifier",
    "market_periods",
    "observed_totals",
]
