"""Cost of every change: a Spot-aware monthly AWS cost of a Pulumi preview or offline plan.

`python -m cost diff|estimate|refresh-prices|comment`; see docs/cost.md. The core
(inputs → pricing → report → render) is pure; cli.py, refresh.py and comment.py do the I/O.
"""
