"""BET Studio's engine: Budgeted Embedding Tables (Qu et al., WSDM 2024) for recommenders.

The package never prints and never imports the dashboard; progress comes out as events
(:mod:`bet.events`). See README.md for the command line.
"""

__version__ = "0.1.0"
