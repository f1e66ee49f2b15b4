"""Data that stays with its owner: datasets whose source is the owner's own server.

A dataset's ``remote:`` block in the catalogue names an OGC API – Features collection or a WFS
2.0 feature type (GeoJSON output) of its owner. The console keeps a synced copy (the scheduler's
sweep, :mod:`app.remote.sync`) and, when a grant is used, reads the zone live from the owner
(:mod:`app.remote.live`), falling back to the copy and saying so. Credentials never enter the
database: they live in the file named by ``CRISIS_REMOTE_CREDENTIALS``
(:mod:`app.remote.spec`). Every exchange goes through :mod:`app.remote.client`: short, bounded
timeouts, bounded sizes, redirects only within the configured origin, junk refused.

No module here imports Flask.
"""
