"""CityOps shared contract: settings, event schemas, catalogue, city model, calendar, Redis keys, CLI.

Everything that more than one part of the platform (streams, dashboard, detectors, fixtures) must agree
on lives here, and only here.
"""

__version__ = "0.1.0"
