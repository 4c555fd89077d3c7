"""`python -m serving serve` as the README runs it: the served version answers on the label URL."""
import json
import os
import subprocess

import pytest

from data.contract import MODEL_NAME
from serving.delivery import labels as model_labels
from serving import client as serving_client
from tests.serving.cli_process import FIXTURE_CSV


def test_serve_labels_the_version_it_serves_stable_and_a_row_with_an_empty_cell_is_sent_as_nan(served, library):
    config = model_labels.read_model_config(os.path.join(os.path.dirname(served.push_dir), "models.config"))
    assert dict(model_labels.find_model(config, MODEL_NAME).version_labels) == {"stable": 2}
    assert "version 2 (label stable)" in served.stderr()
    # A real span row whose wind_gust cell is empty: NaN is how TF Serving's JSON takes a missing float.
    [row] = [r for r in serving_client.rows_from_csv(open(FIXTURE_CSV).read()) if r["wind_gust"] != r["wind_gust"]][:1]
    body = json.dumps({"instances": [row]})
    assert '"wind_gust": NaN' in body
    answer = subprocess.run(["curl", "-s", "-d", body,
                             f"{served.rest}/v1/models/{MODEL_NAME}/labels/stable:predict"],
                            capture_output=True, text=True, timeout=60)
    [prediction] = json.loads(answer.stdout)["predictions"]
    assert 0.0 < prediction < 1.0
    assert prediction == pytest.approx(library.expected(2, [row])[0], abs=1e-6)


