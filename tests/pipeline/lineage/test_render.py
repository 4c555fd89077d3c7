"""The lineage graph as drawn on the pages: runs of the real DAG (synthetic_lineage writes them as TFX does), laid
out so that no edge crosses a box, every box has an edge, labels say what an artifact is, and it fits 1280 px."""
import re
from xml.etree import ElementTree

import pytest

from data import mlmd_store
from pipeline.lineage import query, render
from pipeline.tools.synthetic_lineage import SyntheticPipeline

SVG = "{http://www.w3.org/2000/svg}"
PAGE_WIDTH = 1280 - 2 * 20  # the pages' margins


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = mlmd_store.open_store(str(tmp_path_factory.mktemp("render") / "metadata.sqlite"))
    p = SyntheticPipeline(store)
    p.run(1, "r1", auc=0.70)  # first run: the serving-model resolver picks nothing
    p.run(2, "r2", auc=0.80, epochs=5)
    p.run(2, "r3", auc=0.75, epochs=7)  # the data half cached
    return store


def _points(d):
    """Points along an SVG path of M, L and C commands (curves sampled)."""
    tokens = re.findall(r"[MLC]|-?[\d.]+,-?[\d.]+", d)
    points, command, pending = [], None, []
    for token in tokens:
        if token in "MLC":
            command = token
            continue
        x, y = (float(v) for v in token.split(","))
        if command in "ML":
            points.append((x, y))
        else:
            pending.append((x, y))
            if len(pending) == 3:
                (x0, y0), ((x1, y1), (x2, y2), (x3, y3)) = points[-1], pending
                for k in range(1, 21):
                    t = k / 20
                    points.append(((1 - t) ** 3 * x0 + 3 * (1 - t) ** 2 * t * x1 + 3 * (1 - t) * t * t * x2 + t ** 3 * x3,
                                   (1 - t) ** 3 * y0 + 3 * (1 - t) ** 2 * t * y1 + 3 * (1 - t) * t * t * y2 + t ** 3 * y3))
                pending = []
    # straight segments: sample them too
    sampled = []
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        sampled += [(x0 + (x1 - x0) * k / 10, y0 + (y1 - y0) * k / 10) for k in range(10)]
    return sampled + points[-1:]


@pytest.mark.parametrize("run", ["r1", "r2", "r3"])
def test_no_edge_crosses_a_box_and_the_graph_fits_the_page(store, run):
    graph = query.run_graph(store, run).to_dict()
    drawn = render.to_svg(graph)
    svg = ElementTree.fromstring(drawn.split("</svg>", 1)[0] + "</svg>")
    boxes = {}
    for g in svg.iter(f"{SVG}g"):
        rect = g.find(f"{SVG}rect")
        x, y, w, h = (float(rect.get(k)) for k in ("x", "y", "width", "height"))
        boxes[g.get("data-id")] = (x, y, x + w, y + h)
    paths = list(svg.iter(f"{SVG}path"))[1:]  # the first one is the arrow head
    assert len(paths) == len(graph["edges"])
    for path in paths:
        for px, py in _points(path.get("d")):
            inside = [i for i, (x0, y0, x1, y1) in boxes.items() if x0 + 1 < px < x1 - 1 and y0 + 1 < py < y1 - 1]
            assert inside == [], f"edge {path.find(f'{SVG}title').text} runs through {inside} at {px:.0f},{py:.0f}"
    width = float(svg.get("viewBox").split()[2])
    assert width <= PAGE_WIDTH, f"{width} px wide"
    # every drawn box has an edge; value artifacts are named by their producer and key, types without module
    linked = {e["from"] for e in graph["edges"]} | {e["to"] for e in graph["edges"]}
    assert set(boxes) <= linked
    labels = [n["label"] for n in graph["nodes"]]
    assert not [lb for lb in labels if lb.startswith(("Integer", "components."))], labels
    assert any(lb.startswith("DriftValidator.blessed #") for lb in labels)
    if run == "r1":
        assert "Not drawn (picked nothing): serving_model_resolver" in drawn
