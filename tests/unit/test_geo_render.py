"""The map renderer: one Drawing, rendered to PDF, SVG and (when available) PNG."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path as FsPath

import numpy as np
import pytest
import shapely
from reportlab.graphics.shapes import Drawing, Group, Path, String
from shapely.geometry import LineString, Point, Polygon

from app.geo import render
from app.geo.render import (
    LabelRequest,
    MapLayer,
    MapSpec,
    MapZone,
    drawing_to_pdf,
    drawing_to_png,
    drawing_to_svg,
    fit_extent,
    format_distance,
    map_extract_pdf,
    nice_distance,
    place_labels,
    render_map,
    scaled_drawing,
    wind_arrow_points,
)

SVG_NS = "{http://www.w3.org/2000/svg}"
SOURCE = Point(505000, 6933000)  # Port-Jérôme, Lambert-93
SCREENSHOTS = os.environ.get("CRISIS_RENDER_SCREENSHOTS")


def _plume(dist: float, from_deg: float = 240.0) -> Polygon:
    to = math.radians(from_deg + 180)
    arc = [
        (SOURCE.x + dist * math.sin(to + a), SOURCE.y + dist * math.cos(to + a))
        for a in np.radians(np.linspace(-25, 25, 20))
    ]
    return Polygon([(SOURCE.x, SOURCE.y), *arc]).union(SOURCE.buffer(dist * 0.1))


def _spec(**overrides: object) -> MapSpec:
    base: dict[str, object] = dict(
        title="FICTIF — Fuite de chlore",
        subtitle="Seuils INERIS, 60 min",
        zones=[
            MapZone(_plume(900), "red", "SELS — 900 m"),
            MapZone(_plume(1800), "orange", "SPEL — 1 800 m"),
            MapZone(_plume(3500), "yellow", "SEI — 3 500 m"),
        ],
        layers=[
            MapLayer(
                "Routes",
                "line",
                [LineString([(501000, 6931000), (509000, 6936000)])],
                labels=["D 982"],
            ),
            MapLayer(
                "Écoles",
                "point",
                [Point(506000, 6934000), Point(507000, 6934500)],
                symbol="square",
                labels=["FICTIF — École A", "FICTIF — École B"],
            ),
        ],
        source=SOURCE,
        source_label="FICTIF-1",
        wind_from_deg=240,
        wind_speed_ms=4,
        closure_points=[(Point(504000, 6933500), "B1")],
        time_label="23/11/2026 14:05 (heure de Paris)",
    )
    base.update(overrides)
    return MapSpec(**base)  # type: ignore[arg-type]


def _walk(node: object) -> list[object]:
    out = [node]
    if isinstance(node, Group):
        for child in node.contents:
            out.extend(_walk(child))
    return out


def _strings(drawing: Drawing) -> list[str]:
    return [n.text for n in _walk(drawing) if isinstance(n, String)]


def _path_points(drawing: Drawing) -> np.ndarray:
    pts = [np.array(n.points).reshape(-1, 2) for n in _walk(drawing) if isinstance(n, Path)]
    return np.concatenate(pts) if pts else np.empty((0, 2))


def _svg_texts(svg: str) -> list[str]:
    root = ET.fromstring(svg.encode("utf-8"))
    return ["".join(t.itertext()) for t in root.iter(f"{SVG_NS}text")]


def _pdf_text(pdf: bytes, tmp_path: FsPath) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) not installed")
    src = tmp_path / "map.pdf"
    src.write_bytes(pdf)
    done = subprocess.run(["pdftotext", str(src), "-"], capture_output=True, check=True)
    return done.stdout.decode("utf-8")


def _screenshot(name: str, pdf: bytes, tmp_path: FsPath) -> None:
    """With CRISIS_RENDER_SCREENSHOTS set, write tests/screenshots/NAME.png to look at."""
    if not SCREENSHOTS or shutil.which("pdftoppm") is None:
        return
    out = FsPath(__file__).resolve().parents[1] / "screenshots"
    out.mkdir(exist_ok=True)
    src = tmp_path / f"{name}.pdf"
    src.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "72", "-singlefile", str(src), str(out / name)], check=True
    )


def test_render_to_pdf_and_svg(tmp_path: FsPath) -> None:
    drawing = render_map(_spec(), 600, 400)
    assert (drawing.width, drawing.height) == (600, 400)

    pdf = drawing_to_pdf(drawing)
    assert pdf.startswith(b"%PDF")
    _screenshot("map_situation", pdf, tmp_path)

    svg = drawing_to_svg(drawing)
    root = ET.fromstring(svg.encode("utf-8"))
    assert root.tag == f"{SVG_NS}svg"
    assert root.get("viewBox") == "0 0 600 400"
    assert root.get("width") and root.get("height")
    styles = [p.get("style", "") for p in root.iter(f"{SVG_NS}path")]
    zone_paths = [s for s in styles if "fill-opacity: 0.35" in s]  # the translucent zones
    assert len(zone_paths) == 3
    assert "fill: rgb(89%,10%,10%)" in zone_paths[-1]  # red (#e31a1c) drawn last, on top
    texts = _svg_texts(svg)
    assert "Zones d'effets" in texts
    assert "Points de bouclage" in texts
    assert "Vent du 240° — 4 m/s" in texts


def test_drill_is_marked_exercice(tmp_path: FsPath) -> None:
    drawing = render_map(_spec(is_drill=True), 600, 400)
    assert any("EXERCICE" in t for t in _svg_texts(drawing_to_svg(drawing)))
    assert "EXERCICE" in _pdf_text(drawing_to_pdf(drawing), tmp_path)
    plain = render_map(_spec(), 600, 400)
    assert not any("EXERCICE" in t for t in _strings(plain))


@pytest.mark.parametrize(
    ("restricted", "layer_restricted", "expected"),
    [(False, False, False), (True, False, True), (False, True, True)],
)
def test_restricted_marking_iff_restricted(
    tmp_path: FsPath, restricted: bool, layer_restricted: bool, expected: bool
) -> None:
    gas = MapLayer(
        "Réseau gaz",
        "line",
        [LineString([(503000, 6930000), (507000, 6936000)])],
        restricted=layer_restricted,
    )
    spec = _spec(restricted=restricted, layers=[gas])
    drawing = render_map(spec, 600, 400)
    assert ("DIFFUSION RESTREINTE" in _strings(drawing)) is expected
    assert ("DIFFUSION RESTREINTE" in _pdf_text(drawing_to_pdf(drawing), tmp_path)) is expected


def test_map_extract_pdf_pages(tmp_path: FsPath) -> None:
    spec = _spec(is_drill=True, restricted=True)
    for paper, width in (("A4", "841.8898"), ("A3", "1190.551")):
        pdf = map_extract_pdf(spec, paper=paper, now_label="23/11/2026 14:07")
        assert pdf.startswith(b"%PDF")
        assert f"/MediaBox [ 0 0 {width}".encode() in pdf
        text = _pdf_text(pdf, tmp_path)
        assert "Extrait cartographique — crisis-console" in text
        assert "23/11/2026 14:07" in text
        assert "EXERCICE" in text and "DIFFUSION RESTREINTE" in text
        _screenshot(f"map_extract_{paper}", pdf, tmp_path)
    with pytest.raises(ValueError):
        map_extract_pdf(spec, paper="A5")


def test_simplification_reduces_points_and_keeps_extent() -> None:
    # A dense ring: 20,000 vertices on a 2 km circle, far below what 0.5 pt can show.
    angles = np.linspace(0, 2 * np.pi, 20_000, endpoint=False)
    ring = Polygon(
        np.column_stack((SOURCE.x + 2000 * np.cos(angles), SOURCE.y + 2000 * np.sin(angles)))
    )
    tiny = SOURCE.buffer(0.5)  # well under a point at this scale
    layer = MapLayer("Dense", "polygon", [ring, tiny], fill="#dddddd")
    spec = _spec(zones=[], layers=[layer], extent=(502000, 6930000, 508000, 6936000))
    simple = _path_points(render_map(spec, 600, 400, simplify_pt=0.5))
    raw = _path_points(render_map(spec, 600, 400, simplify_pt=None))
    assert len(simple) < len(raw) / 10
    assert np.allclose(simple.min(axis=0), raw.min(axis=0), atol=0.6)
    assert np.allclose(simple.max(axis=0), raw.max(axis=0), atol=0.6)


def test_geometry_is_clipped_to_the_frame() -> None:
    long_road = MapLayer("Routes", "line", [LineString([(400000, 6933000), (600000, 6933000)])])
    spec = _spec(layers=[long_road])
    drawing = render_map(spec, 600, 400)
    road = [
        n for n in _walk(drawing) if isinstance(n, Path) and n.strokeColor is not None
    ]  # zones and the road
    xs = np.concatenate([np.array(p.points)[0::2] for p in road])
    assert xs.min() >= 0 and xs.max() <= 600


def test_label_collision_avoidance_drops_overlapping_labels() -> None:
    same_spot = [LabelRequest(f"FICTIF — École {i}", 100, 100, 7) for i in range(5)]
    placed = place_labels(same_spot)
    assert [p.text for p in placed] == ["FICTIF — École 0"]  # one candidate, one winner

    offsets = render.point_label_offsets(2.0, 7)
    around = [LabelRequest(f"École {i}", 100, 100, 7, offsets) for i in range(6)]
    placed = place_labels(around)
    assert len(placed) == 4  # right, left, above, below
    boxes = [p.box for p in placed]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not render._overlaps(a, b)

    blocked = place_labels([LabelRequest("B1", 100, 100, 7)], obstacles=[(90, 90, 110, 110)])
    assert blocked == []
    outside = place_labels([LabelRequest("B1", 5, 100, 7)], bounds=(0, 0, 200, 200))
    assert outside == []  # its box would cross the frame's left edge


def test_crowded_points_show_fewer_labels_than_points() -> None:
    pts = [Point(505000 + i * 5, 6933000) for i in range(40)]  # 5 m apart: one blob on paper
    layer = MapLayer("Écoles", "point", pts, labels=[f"FICTIF — École {i}" for i in range(40)])
    drawing = render_map(_spec(layers=[layer]), 600, 400)
    shown = [t for t in _strings(drawing) if t.startswith("FICTIF — École")]
    assert 1 <= len(shown) <= 6


def test_wind_arrow_points_downwind() -> None:
    tail, head = wind_arrow_points(240, 0, 0, 20)
    assert head[0] > tail[0] and head[1] > tail[1]  # wind from WSW blows to the north-east
    assert math.degrees(math.atan2(head[0] - tail[0], head[1] - tail[1])) == pytest.approx(60)
    assert math.dist(tail, head) == pytest.approx(20)
    tail, head = wind_arrow_points(0, 0, 0, 20)  # a north wind blows south
    assert head[1] < tail[1] and head[0] == pytest.approx(tail[0])


def test_extent_fitting_keeps_aspect_ratio() -> None:
    vp = fit_extent((500000, 6930000, 501000, 6931000), (0, 0, 400, 200))
    assert vp.scale == pytest.approx(0.2)  # the height limits: 200 pt for 1000 m
    x0, y0, x1, y1 = vp.extent
    assert (x1 - x0) / (y1 - y0) == pytest.approx(2.0)  # same aspect as the frame
    assert x0 <= 500000 and x1 >= 501000 and y0 <= 6930000 and y1 >= 6931000
    assert (x0 + x1) / 2 == pytest.approx(500500) and (y0 + y1) / 2 == pytest.approx(6930500)
    assert vp.to_page(500500, 6930500) == pytest.approx((200, 100))


def test_default_extent_covers_the_zones() -> None:
    spec = _spec()
    x0, y0, x1, y1 = render.default_extent(spec)
    zx0, zy0, zx1, zy1 = shapely.total_bounds([z.geometry for z in spec.zones])
    assert x0 < zx0 and y0 < zy0 and x1 > zx1 and y1 > zy1
    with pytest.raises(ValueError):
        render.default_extent(MapSpec(title="Vide"))


def test_scale_bar_distances_are_round() -> None:
    assert nice_distance(1234) == 1000
    assert nice_distance(4999) == 2000
    assert nice_distance(5000) == 5000
    assert nice_distance(73) == 50
    assert [format_distance(m) for m in (0, 250, 500, 1000, 2500, 10000)] == [
        "0 m",
        "250 m",
        "500 m",
        "1 km",
        "2,5 km",
        "10 km",
    ]
    texts = _strings(render_map(_spec(), 600, 400))
    assert "0" in texts and any(t.endswith(" km") or t.endswith(" m") for t in texts)


def test_scaled_drawing_fits_and_is_a_flowable() -> None:
    drawing = render_map(_spec(), 800, 500)
    small = scaled_drawing(drawing, 400, 400)
    assert (small.width, small.height) == pytest.approx((400, 250))
    assert small.wrap(1000, 1000) == pytest.approx((400, 250))
    assert scaled_drawing(drawing, 2000, 2000).width == 800  # never enlarged
    assert drawing_to_pdf(small).startswith(b"%PDF")


def test_drawing_embeds_in_a_platypus_story(tmp_path: FsPath) -> None:
    from io import BytesIO

    from reportlab.lib.pagesizes import A4
    from reportlab.platypus import SimpleDocTemplate

    buf = BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4)
    drawing = render_map(_spec(is_drill=True), 760, 520)
    doc.build([scaled_drawing(drawing, doc.width, doc.height / 2)])
    text = _pdf_text(buf.getvalue(), tmp_path)
    assert "EXERCICE" in text and "FICTIF-1" in text


def test_fast_pdf_paths_match_reportlab(tmp_path: FsPath) -> None:
    """The fast path writer draws what reportlab's own renderer draws."""
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) not installed")
    from reportlab.graphics import renderPDF

    drawing = render_map(_spec(), 300, 200)
    images = []
    for name, pdf in (("fast", drawing_to_pdf(drawing)), ("ref", renderPDF.drawToString(drawing))):
        (tmp_path / f"{name}.pdf").write_bytes(pdf)
        subprocess.run(
            ["pdftoppm", "-r", "36", "-gray", "-singlefile", str(tmp_path / f"{name}.pdf"),
             str(tmp_path / name)],
            check=True,
        )  # fmt: skip
        images.append((tmp_path / f"{name}.pgm").read_bytes())
    assert images[0] == images[1]


def test_png_is_optional_with_a_clear_error(tmp_path: FsPath) -> None:
    drawing = render_map(_spec(), 300, 200)
    if not render.png_available():
        with pytest.raises(render.PngUnavailableError, match="rlPyCairo"):
            drawing_to_png(drawing)
        return
    png = drawing_to_png(drawing)
    assert png.startswith(b"\x89PNG")
    if SCREENSHOTS:
        out = FsPath(__file__).resolve().parents[1] / "screenshots"
        out.mkdir(exist_ok=True)
        (out / "map_renderpm.png").write_bytes(png)
