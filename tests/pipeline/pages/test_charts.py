"""Inline-SVG charts: the drawn points are the data's, markers and the diagonal where asked."""
from xml.etree import ElementTree

from pipeline.pages import charts

SVG = "{http://www.w3.org/2000/svg}"


def polylines(svg_text):
    root = ElementTree.fromstring(svg_text)
    return {p.get("data-series"): [tuple(float(v) for v in xy.split(",")) for xy in p.get("points").split()]
            for p in root.iter(f"{SVG}polyline")}


def test_series_points_are_the_data_scaled_with_y_up():
    svg = charts.line_chart({"candidate": [(0, 0), (0.25, 0.5), (1, 1)], "baseline": [(0, 0), (1, 1)]},
                            "ROC", "fpr", "tpr", diagonal=True)
    lines = polylines(svg)
    assert lines["candidate"] == [(0.0, 1000.0), (250.0, 500.0), (1000.0, 0.0)]
    assert lines["baseline"] == [(0.0, 1000.0), (1000.0, 0.0)]
    root = ElementTree.fromstring(svg)
    assert len([line for line in root.iter(f"{SVG}line") if line.get("class") == "diagonal"]) == 1
    assert root.find(f"{SVG}title").text == "ROC"


def test_markers_carry_their_label():
    svg = charts.line_chart({"candidate": [(0, 0), (1, 1)]}, "PR", "recall", "precision",
                            markers=[{"x": 0.5, "y": 0.25, "label": "threshold 0.5", "series": "candidate"}])
    [circle] = [c for c in ElementTree.fromstring(svg).iter(f"{SVG}circle")]
    assert circle.get("data-label") == "threshold 0.5"
    pad = charts._PAD * charts.SCALE
    assert (float(circle.get("cx")), float(circle.get("cy"))) == (pad + 500, pad + 750)


def test_long_curves_are_thinned_keeping_both_ends():
    points = [(i / 999, (i / 999) ** 2) for i in range(1000)]
    [drawn] = polylines(charts.line_chart({"candidate": points}, "t", "x", "y")).values()
    assert len(drawn) == 200
    assert drawn[0] == (0.0, 1000.0) and drawn[-1] == (1000.0, 0.0)


def test_bars_scale_to_the_largest_count_and_skip_all_zero():
    svg = charts.bars([1, 4, 2], width=30, height=20)
    heights = [float(r.get("height")) for r in ElementTree.fromstring(svg).iter("rect")]
    assert heights == [5.0, 20.0, 10.0]
    assert charts.bars([0, 0]) == "" and charts.bars([]) == ""
