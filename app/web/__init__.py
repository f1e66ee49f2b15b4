"""The web layer: blueprints, access rules, security headers, htmx helpers (see ``factory``)."""
