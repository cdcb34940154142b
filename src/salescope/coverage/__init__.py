"""Coverage engines: who to serve, how, and by whom.

Pure computation on Polars frames (no I/O): KPIs per customer and period (``kpis``), dynamic
segmentation (``segmentation``), share of wallet and potential (``wallet``), recommendations
with interaction modes under the reps' capacity (``recommend``), follow-up of added customers
(``followup``) and rep assignment (``assignment``).
"""
