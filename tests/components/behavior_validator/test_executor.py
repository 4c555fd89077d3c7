"""Executor.Do with real artifact objects over temp dirs and an eval split from the span-1 CSV."""
import collections
import json
import os
import shutil

import pytest
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils
from tfx.types import standard_artifacts
from tfx.utils import io_utils

from components.behavior_validator import BehaviorValidationReport
from components.behavior_validator import constants as c
from components.behavior_validator import executor
from tests.components.behavior_validator import testdata


def _rows():
    """The span-1 fixture CSV when checked in, otherwise generated rows."""
    if os.path.exists(testdata.SPAN1_CSV):
        return testdata.csv_rows(testdata.SPAN1_CSV, limit=600)
    return testdata.generated_rows(600)


@pytest.fixture(scope="module")
def eval_rows():
    return _rows()


def _artifacts(root, models, variant, rows, baseline=None):
    def model_artifact(name, v):
        m = standard_artifacts.Model()
        m.uri = os.path.join(root, name)
        shutil.copytree(models[v], os.path.join(m.uri, "Format-Serving"))
        return m

    examples = standard_artifacts.Examples()
    examples.uri = os.path.join(root, "examples")
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    testdata.write_split(os.path.join(examples.uri, "Split-train"), rows[:50], shards=1)
    testdata.write_split(os.path.join(examples.uri, "Split-eval"), rows)
    schema = standard_artifacts.Schema()
    schema.uri = os.path.join(root, "schema")
    io_utils.write_pbtxt_file(os.path.join(schema.uri, "schema.pbtxt"), testdata.make_schema())
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = os.path.join(root, "blessing")
    report = BehaviorValidationReport()
    report.uri = os.path.join(root, "report")
    for a in (blessing, report):
        os.makedirs(a.uri)
    inputs = {c.MODEL_KEY: [model_artifact("model", variant)], c.EXAMPLES_KEY: [examples],
              c.SCHEMA_KEY: [schema]}
    if baseline:
        inputs[c.BASELINE_MODEL_KEY] = [model_artifact("baseline", baseline)]
    return inputs, {c.BLESSING_KEY: [blessing], c.REPORT_KEY: [report]}


def _do(tmp_path, inputs, outputs, config):
    context = base_beam_executor.BaseBeamExecutor.Context(
        beam_pipeline_args=["--direct_num_workers=1", "--direct_running_mode=in_memory"],
        tmp_dir=str(tmp_path / "tmp"))
    executor.Executor(context).Do(inputs, outputs, {c.CONFIG_KEY: config.to_json()})


# Real flights: the toy model's recall on real labels is meaningless, so the slice floor is 0 here
# (its figures are still checked against a direct count below).
_CFG = testdata.config(min_slice_recall=0.0, latency_budget_ms=60_000.0, min_slice_examples=20)


def test_do_blesses_good_model_and_writes_report(tmp_path, models, eval_rows):
    inputs, outputs = _artifacts(str(tmp_path), models, testdata.GOOD, eval_rows,
                                 baseline=testdata.GOOD)
    _do(tmp_path, inputs, outputs, _CFG)

    blessing, report = outputs[c.BLESSING_KEY][0], outputs[c.REPORT_KEY][0]
    assert blessing.get_int_custom_property("blessed") == 1
    assert os.listdir(blessing.uri) == [c.BLESSED_FILE_NAME]
    assert blessing.get_string_custom_property(c.ARTIFACT_PROPERTY_FAILED_CHECKS_KEY) == ""
    assert blessing.get_string_custom_property(c.ARTIFACT_PROPERTY_VALIDATED_MODEL_URI_KEY) == \
        inputs[c.MODEL_KEY][0].uri
    assert blessing.get_string_custom_property(c.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY) == \
        inputs[c.BASELINE_MODEL_KEY][0].uri
    assert blessing.get_int_custom_property(c.ARTIFACT_PROPERTY_BEHAVIOR_CHECKS_PASSED_KEY) == 1
    assert report.get_int_custom_property(c.ARTIFACT_PROPERTY_BEHAVIOR_CHECKS_PASSED_KEY) == 1
    assert {c.REPORT_JSON_FILE_NAME, c.REPORT_HTML_FILE_NAME} <= set(os.listdir(report.uri))

    data = json.loads(open(os.path.join(report.uri, c.REPORT_JSON_FILE_NAME)).read())
    checks = {ch["name"]: ch for ch in data["checks"]}
    assert data["blessed"] and set(checks) == set(c.CHECK_NAMES)
    assert data["config"]["min_slice_examples"] == 20  # the exec property was used
    assert checks[c.CHECK_OUTPUT_RANGE]["figures"]["examples"] == len(eval_rows)  # eval split only
    by_carrier = collections.Counter(r["carrier"] for r in eval_rows)
    positives = collections.Counter(r["carrier"] for r in eval_rows if r["late"])
    rows = {r["carrier"]: r for r in checks[c.CHECK_SLICE_RECALL]["rows"]}
    assert {k: r["examples"] for k, r in rows.items()} == dict(by_carrier)
    assert {k: r["positives"] for k, r in rows.items()} == {k: positives[k] for k in by_carrier}
    assert checks[c.CHECK_SLICE_REGRESSION]["verdict"] == c.PASS


def test_do_pools_the_eval_splits_of_every_examples_artifact(tmp_path, models, eval_rows):
    """E.g. the newest Examples of each of the last spans: their eval splits are one pool of days."""
    inputs, outputs = _artifacts(str(tmp_path), models, testdata.GOOD, eval_rows, baseline=testdata.GOOD)
    later = [dict(r, month=2) for r in testdata.csv_rows(testdata.SPAN1_CSV)[600:900]]
    second = standard_artifacts.Examples()
    second.uri = str(tmp_path / "examples2")
    second.split_names = artifact_utils.encode_split_names(["train", "eval"])
    testdata.write_split(os.path.join(second.uri, "Split-train"), later[:10], shards=1)
    testdata.write_split(os.path.join(second.uri, "Split-eval"), later, shards=1)
    inputs[c.EXAMPLES_KEY].append(second)
    _do(tmp_path, inputs, outputs, _CFG)
    data = json.loads(open(os.path.join(outputs[c.REPORT_KEY][0].uri, c.REPORT_JSON_FILE_NAME)).read())
    checks = {ch["name"]: ch for ch in data["checks"]}
    pooled = eval_rows + later
    assert checks[c.CHECK_OUTPUT_RANGE]["figures"]["examples"] == len(pooled)
    auc = checks[c.CHECK_AUC_REGRESSION]
    days = {(r["month"], r["day"]) for r in pooled}
    assert auc["verdict"] == c.PASS and auc["figures"]["groups"] == len(days) > 7
    assert auc["figures"]["auc_drop"] == 0 and auc["figures"]["drop_ci95"] == [0, 0]
    inputs[c.EXAMPLES_KEY] = []
    with pytest.raises(ValueError, match="examples: expected at least one Examples artifact"):
        _do(tmp_path, inputs, outputs, _CFG)


def test_do_does_not_bless_model_sensitive_to_flight_number(tmp_path, models, eval_rows):
    inputs, outputs = _artifacts(str(tmp_path), models, testdata.FLIGHT_SENSITIVE, eval_rows)
    _do(tmp_path, inputs, outputs, _CFG)
    blessing, report = outputs[c.BLESSING_KEY][0], outputs[c.REPORT_KEY][0]
    assert blessing.get_int_custom_property("blessed") == 0
    assert blessing.get_int_custom_property(c.ARTIFACT_PROPERTY_BEHAVIOR_CHECKS_PASSED_KEY) == 0
    assert report.get_int_custom_property(c.ARTIFACT_PROPERTY_BEHAVIOR_CHECKS_PASSED_KEY) == 0
    assert os.listdir(blessing.uri) == [c.NOT_BLESSED_FILE_NAME]
    assert blessing.get_string_custom_property(c.ARTIFACT_PROPERTY_FAILED_CHECKS_KEY) == \
        c.CHECK_INVARIANCE
    assert report.get_string_custom_property(c.ARTIFACT_PROPERTY_FAILED_CHECKS_KEY) == \
        c.CHECK_INVARIANCE
    page = open(os.path.join(report.uri, c.REPORT_HTML_FILE_NAME)).read()
    assert f'{c.CHECK_INVARIANCE}: <span class="FAIL">' in page


def test_do_rejects_examples_without_eval_split(tmp_path, models, eval_rows):
    inputs, outputs = _artifacts(str(tmp_path), models, testdata.GOOD, eval_rows[:10])
    inputs[c.EXAMPLES_KEY][0].split_names = artifact_utils.encode_split_names(["train"])
    with pytest.raises(ValueError, match="no 'eval' split"):
        _do(tmp_path, inputs, outputs, _CFG)


@pytest.mark.parametrize("upstream_blessed", [1, 0])
def test_do_requires_the_upstream_blessing(tmp_path, models, eval_rows, upstream_blessed):
    """A good model is blessed only if the upstream (Evaluator's) blessing says so too."""
    inputs, outputs = _artifacts(str(tmp_path), models, testdata.GOOD, eval_rows)
    upstream = standard_artifacts.ModelBlessing()
    upstream.uri = str(tmp_path / "evaluator_blessing")
    upstream.set_int_custom_property("blessed", upstream_blessed)
    inputs[c.MODEL_BLESSING_KEY] = [upstream]
    _do(tmp_path, inputs, outputs, _CFG)
    blessing, report = outputs[c.BLESSING_KEY][0], outputs[c.REPORT_KEY][0]
    assert blessing.get_int_custom_property("blessed") == upstream_blessed
    # The behaviour checks passed either way; the blessing also says what the upstream said.
    assert blessing.get_int_custom_property(c.ARTIFACT_PROPERTY_BEHAVIOR_CHECKS_PASSED_KEY) == 1
    assert report.get_int_custom_property(c.ARTIFACT_PROPERTY_BEHAVIOR_CHECKS_PASSED_KEY) == 1
    assert blessing.get_int_custom_property(c.ARTIFACT_PROPERTY_UPSTREAM_BLESSED_KEY) == upstream_blessed
    assert report.get_string_custom_property(c.ARTIFACT_PROPERTY_FAILED_CHECKS_KEY) == ""
    checks = {ch["name"]: ch for ch in json.loads(
        open(os.path.join(report.uri, c.REPORT_JSON_FILE_NAME)).read())["checks"]}
    assert checks[c.CHECK_UPSTREAM_BLESSING]["verdict"] == (c.PASS if upstream_blessed else c.FAIL)
    assert upstream.uri in checks[c.CHECK_UPSTREAM_BLESSING]["summary"]
    if not upstream_blessed:
        assert blessing.get_string_custom_property(c.ARTIFACT_PROPERTY_FAILED_CHECKS_KEY) == \
            c.CHECK_UPSTREAM_BLESSING
