"""Statistics of logged rows (Beam + TFDV) shaped like StatisticsGen's: a missing weather value is a feature
without values (an empty CSV cell in CsvExampleGen), so missing rates compare like for like with training."""
import os

from data import contract
from pipeline.local.runner import REPO_ROOT
from pipeline.monitor import statistics
from tests.pipeline.monitor import traffic

SPANS = os.path.join(REPO_ROOT, "tests", "fixtures", "spans")


def test_statistics_of_rows_like_statistics_gen(tmp_path):
    frame = traffic.read_span(SPANS, 1)[list(contract.FEATURE_KEYS)].iloc[:300]
    predictions = frame[["temp"]].rename(columns={"temp": contract.PREDICTION_KEY})
    stats = statistics.generate({"rows": (frame, str(tmp_path / "a"), "serving"),
                                 "answers": (predictions, str(tmp_path / "b"), "eval")},
                                ["--direct_running_mode=in_memory", "--direct_num_workers=1"])
    dataset = stats["rows"].datasets[0]
    assert dataset.num_examples == 300
    by_name = {f.path.step[0]: f for f in dataset.features}
    assert set(by_name) == set(contract.FEATURE_KEYS)
    gust = by_name["wind_gust"]
    empty = int(frame["wind_gust"].isna().sum())
    assert empty > 0
    assert gust.num_stats.common_stats.num_missing == 0  # present, without a value
    assert gust.num_stats.common_stats.tot_num_values == 300 - empty
    assert by_name["carrier"].string_stats.unique == frame["carrier"].nunique()
    # written where TFX readers look, and read back the same
    assert statistics.load(str(tmp_path / "a"), "serving") == stats["rows"]
    assert os.path.isfile(tmp_path / "b" / "Split-eval" / statistics.STATS_FILE)
