"""Statistics and evaluation pages of a real run (see conftest.py) show the numbers TFDV and TFMA wrote."""
import html
import os
import re

import pytest
import tensorflow_data_validation as tfdv
import tensorflow_model_analysis as tfma

from pipeline.pages import run_pages as reports
from pipeline.local import summary


@pytest.fixture(scope="module")
def run_summary(pipeline_history):
    return summary.summarize_run(pipeline_history["metadata"], pipeline_history["runs"][0].run_id)


@pytest.mark.e2e
def test_statistics_page_counts_present_empty_and_missing_per_split(run_summary):
    page = reports.statistics_html(run_summary["statistics_uri"])
    for split in ("train", "eval"):
        dataset = tfdv.load_stats_binary(os.path.join(run_summary["statistics_uri"], f"Split-{split}",
                                                      "FeatureStats.pb")).datasets[0]
        [table] = re.findall(rf"<table class='stats' data-split='{split}'>.*?</table>", page, re.S)
        for feature in dataset.features:
            common = getattr(feature, feature.WhichOneof("stats")).common_stats
            assert common.max_num_values <= 1  # one value per CSV cell
            [row] = re.findall(rf"<tr><td>{feature.path.step[0]}</td>.*?</tr>", table, re.S)
            counts = [int(c.split(" ")[0]) for c in re.findall(r"<td class='n[^']*'>(.*?)</td>", row)]
            assert counts == [common.tot_num_values, common.num_non_missing - common.tot_num_values,
                              dataset.num_examples - common.num_non_missing]
    assert "<td>carrier</td>" in page and "<svg" in page and "http" not in page


@pytest.mark.e2e
def test_evaluation_page_lists_every_slice_with_tfmas_numbers(run_summary):
    uri = run_summary["evaluation_uri"]
    page = reports.evaluation_html(uri, min_auc=0.6, title="(run x)")
    slices = list(tfma.load_metrics(uri))
    assert page.count("<tr><td>") == len(slices)
    for per_slice in slices:
        name = ", ".join(f"{k.column}={k.bytes_value.decode() or k.int64_value}"
                         for k in per_slice.slice_key.single_slice_keys) or "overall"
        assert f"<td>{html.escape(name)}</td>" in page
    overall = reports.metrics_by_slice(uri)[0]
    assert overall["slice"] == "overall"
    assert f"{overall['auc']:.3f}" in page and f"<td class='n'>{int(overall['example_count'])}</td>" in page
    assert "auc &gt;= 0.6" in page and "red line: the AUC gate" in page


@pytest.mark.e2e
def test_write_run_reports_names_the_folder_after_the_run(run_summary, tmp_path):
    written = reports.write_run_reports(run_summary, str(tmp_path), min_auc=0.6)
    folder = tmp_path / "reports" / run_summary["run_id"].replace(":", "-")
    assert written == {"statistics": str(folder / "statistics.html"), "evaluation": str(folder / "evaluation.html")}
    assert all(os.path.getsize(p) > 0 for p in written.values())


def test_value_counts_tell_empty_cells_from_missing_features():
    from tensorflow_metadata.proto.v0 import statistics_pb2
    feature = statistics_pb2.FeatureNameStatistics()
    common = feature.num_stats.common_stats
    common.num_non_missing, common.num_missing, common.max_num_values, common.tot_num_values = 90, 10, 1, 30
    assert reports.value_counts(feature, 100) == {"present": 30, "empty": 60, "missing": 10}
    common.max_num_values = 3  # several values per example: how many had none is unknown
    assert reports.value_counts(feature, 100)["empty"] is None
