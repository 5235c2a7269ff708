"""catalog-bot: keeps a STAC + Frictionless + pygeoapi data catalog honest and publishes it."""

__version__ = "0.1.0"
