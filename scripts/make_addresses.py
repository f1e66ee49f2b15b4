"""Write data/addresses-synthetic.csv: a SYNTHETIC address file for four Caux Seine communes.

The file has the columns of the Base Adresse Nationale's ``adresses-<dep>.csv`` (``;``-separated,
UTF-8) plus a ``source`` column saying ``synthetic``. The communes, their INSEE codes and postcodes
are real; the streets, numbers and positions are invented (common French street names, numbers
along a short segment drawn at random inside the real commune outline), so that the demo's address
search has something to find. Ids start with ``DEMO-``. Seeded (numpy ``default_rng(76)``): running
it again rewrites a byte-identical file. Usage: ``.venv/bin/python scripts/make_addresses.py``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from pyproj import Transformer
from shapely.geometry import LineString, Point, shape

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "data" / "addresses-synthetic.csv"
COMMUNES = ("76384", "76114", "76476", "76164")  # Lillebonne, Bolbec, Port-Jérôme, Rives-en-Seine
STREETS = (
    "Rue Victor Hugo",
    "Rue de la République",
    "Avenue Jean Jaurès",
    "Place du Général de Gaulle",
    "Rue Pasteur",
    "Rue de l'Église",
    "Chemin des Saules",
    "Impasse des Lilas",
    "Rue du 8 Mai 1945",
    "Boulevard Gambetta",
    "Allée des Tilleuls",
    "Rue Sadi Carnot",
    "Route du Havre",
    "Rue des Écoles",
)
COLUMNS = (
    "id;id_fantoir;numero;rep;nom_voie;code_postal;code_insee;nom_commune;"
    "code_insee_ancienne_commune;nom_ancienne_commune;x;y;lon;lat;type_position;alias;nom_ld;"
    "libelle_acheminement;nom_afnor;source_position;source_nom_voie;certification_commune;"
    "cad_parcelles"
).split(";") + ["source"]


def afnor(name: str) -> str:
    import unicodedata

    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return plain.upper().replace("'", " ")


def main() -> None:
    rng = np.random.default_rng(76)
    to_l93 = Transformer.from_crs(4326, 2154, always_xy=True)
    doc = json.loads((ROOT / "data" / "communes.geojson").read_text("utf-8"))
    communes = {f["properties"]["insee"]: f for f in doc["features"]}
    rows = []
    for insee in COMMUNES:
        feat = communes[insee]
        props = feat["properties"]
        outline = shape(feat["geometry"])
        core = outline.buffer(-0.002)
        minx, miny, maxx, maxy = core.bounds
        postcode = props["postal_codes"][0]
        for s, street in enumerate(STREETS):
            while True:
                start = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
                angle = rng.uniform(0, np.pi)
                length = rng.uniform(0.002, 0.006)
                end = Point(start.x + length * np.cos(angle), start.y + length * np.sin(angle))
                line = LineString([start, end])
                if core.contains(line):
                    break
            count = int(rng.integers(6, 16))
            for k in range(count):
                numero = 2 * k + 1 + int(rng.integers(0, 2))
                rep = "bis" if rng.random() < 0.05 else ""
                p = line.interpolate((k + 0.5) / count, normalized=True)
                lon, lat = round(p.x, 6), round(p.y, 6)
                x, y = to_l93.transform(lon, lat)
                voie = f"{s + 1:04d}"
                rows.append(
                    {
                        "id": f"DEMO-{insee}_{voie}_{numero:05d}{('_' + rep) if rep else ''}",
                        "id_fantoir": "",
                        "numero": numero,
                        "rep": rep,
                        "nom_voie": street,
                        "code_postal": postcode,
                        "code_insee": insee,
                        "nom_commune": props["name"],
                        "code_insee_ancienne_commune": "",
                        "nom_ancienne_commune": "",
                        "x": f"{x:.2f}",
                        "y": f"{y:.2f}",
                        "lon": lon,
                        "lat": lat,
                        "type_position": "entrée",
                        "alias": "",
                        "nom_ld": "",
                        "libelle_acheminement": afnor(props["name"]),
                        "nom_afnor": afnor(street),
                        "source_position": "inconnue",
                        "source_nom_voie": "inconnue",
                        "certification_commune": 0,
                        "cad_parcelles": "",
                        "source": "synthetic",
                    }
                )
    with OUT.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, delimiter=";", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{OUT.relative_to(ROOT)} : {len(rows)} adresses synthétiques")


if __name__ == "__main__":
    main()
