"""Statistics and evaluation pages of a real run (see conftest.py) show the numbers TFDV and TFMA wrote."""
import html
import os

import pytest
import tensorflow_data_validation as tfdv
import tensorflow_model_analysis as tfma

from pipeline import reports, summary

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def run_summary(pipeline_history):
    return summary.summarize_run(pipeline_history["metadata"], pipeline_history["runs"][0].run_id)


def test_statistics_page_counts_each_feature_per_split(run_summary):
    page = reports.statistics_html(run_summary["statistics_uri"])
    for split in ("train", "eval"):
        stats = tfdv.load_stats_binary(os.path.join(run_summary["statistics_uri"], f"Split-{split}",
                                                    "FeatureStats.pb"))
        for feature in stats.datasets[0].features:
            common = getattr(feature, feature.WhichOneof("stats")).common_stats
            assert f"<td>{common.num_non_missing}</td>" in page
    assert "<td>carrier</td>" in page and "<svg" in page and "http" not in page


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
    assert f"{overall['auc']:.3f}" in page and f"<td>{int(overall['example_count'])}</td>" in page
    assert "blessing floor AUC 0.6" in page


def test_write_run_reports_names_the_folder_after_the_run(run_summary, tmp_path):
    written = reports.write_run_reports(run_summary, str(tmp_path), min_auc=0.6)
    folder = tmp_path / "reports" / run_summary["run_id"].replace(":", "-")
    assert written == {"statistics": str(folder / "statistics.html"), "evaluation": str(folder / "evaluation.html")}
    assert all(os.path.getsize(p) > 0 for p in written.values())
