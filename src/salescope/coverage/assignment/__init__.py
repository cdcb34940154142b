"""Rep assignment: which rep serves each customer, under capacity, with the least travel.

``assign(reps, customers, params)`` is the entry point (``salescope assign``, CONTRACTS.md).

The problem
-----------
A generalised assignment problem. Reps have a capacity in minutes per planning cycle; customers
have a workload in the same unit. Customers with a ``rep_id`` keep it, unless
``AssignParams.max_moves`` K > 0 lets at most K of them change rep; customers without one (new
shops) go to reps. The assignment is chosen lexicographically — each level is optimised, then
held, before the next:

0. no rep over capacity (a constraint). A rep whose current customers alone exceed its capacity
   receives nobody (reported as ``overloaded_today``);
1. the most priority covered (``priority``, default 1, over the new customers): a new customer is
   left unassigned only for lack of capacity. With K > 0 the zero-move solution is solved first
   and is the starting point, so moves never cover less priority than no move;
2. with K > 0, the least overload left on the reps over capacity today (moves relieve them
   where that leaves no new customer out);
3. when some new customers have priority 0, the most of them covered;
4. the least total great-circle distance customer ↔ rep. A move that neither frees capacity
   nor cuts the shop's travel is then undone; each moved shop's distance change and the reason
   are in the output.

A customer with a ``region`` goes only to a rep of the same region when the rep has one too (a
current assignment across regions is kept: it is not a move). A customer whose workload exceeds
what any allowed rep could hold stays unassigned.

The algorithm
-------------
Each level is a mixed-integer programme solved with HiGHS over a restricted set of
customer–rep pairs (columns), its optimum held as a constraint before the next level:

* **Column generation.** The model starts with the ``candidates_per_customer`` nearest allowed
  reps of each new customer. Its LP relaxation is solved and every pair of the *full* problem is
  priced against the LP duals, block by block (no dense distance matrix is ever held); pairs of
  negative reduced cost join the model and the LP is solved again, until none is left: the
  restricted LP is then the full LP. With moves allowed, existing customers whose move prices
  out negative join the model the same way.
* **Lower bound.** The Lagrangian bound of the full problem at the LP duals (capacity, moves and
  level rows dualised; each customer takes its best option over *all* reps) is valid whatever
  the duals, and equals the full LP bound once the pricing finds nothing. The MIP's own dual
  bound is valid only over the pairs it was given, so it counts as
  ``min(MIP bound, Lagrangian + smallest Lagrangian reduced cost of a pair left out)``: a
  solution using a pair left out costs at least that much.
* **Primal.** An LP-guided greedy (pairs integral in the LP first, then by regret; the cheapest
  rep by ``distance + capacity price × workload`` that has room) starts the MIP, which keeps the
  few best pairs of each customer by LP reduced cost (about 1.8 per customer), improves the start
  until the time limit or the gap tolerance, and is widened while it proves its optimum early.
  Large instances without moves then spend half the distance level's time on a
  large-neighbourhood search: a rep and its 7 nearest at a time (the most capacity-pressed
  first), the new customers they hold or could take re-placed by an exact small MIP.
* **Coverage decided at once.** When a plain greedy covers every new customer, the coverage
  levels need no MIP: every new customer must be covered (Σx = 1) at the distance level.
* **Small instances** (customers × reps ≤ ``dense_below``) keep every pair in the model and are
  solved exactly, level by level.
* **Capacity short on a large instance.** The coverage levels are then MIPs of their own; they
  carry the distance as a tie-break worth at most 1 % of the smallest priority per customer
  (covering less could only pay by saving over 100 times the longest distance in the model), so
  that the customers covered are near their reps; the distance level first re-places the
  covered customers alone (a plain assignment problem), then lets the covered set change. This
  case needs more time than the default to get close: see ``priority_bound`` and ``gap``.

The gap is ``(distance − lower bound) / (lower bound − fixed distance)``: relative to the distance
the engine decides, not diluted by existing customers that cannot move.
"""

from salescope.coverage.assignment.problem import AssignmentResult, AssignObjective, AssignParams
from salescope.coverage.assignment.solve import assign
from salescope.geo import haversine_km

__all__ = ["AssignObjective", "AssignParams", "AssignmentResult", "assign", "haversine_km"]
