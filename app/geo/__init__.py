"""Geo engine: projection, spatial index, zones and impact analysis (no Flask, no database).

The map renderer lives in ``app.geo.render``; import submodules directly, e.g.
``from app.geo.zones import compute_zones``.
"""
