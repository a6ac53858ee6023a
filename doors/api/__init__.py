"""The HTTP API process: Open311 GeoReport v2 intake, the read API and gateway readings (docs/api.md)."""
