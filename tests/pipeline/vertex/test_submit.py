"""`vertex submit` through the real Vertex AI SDK against a local stand-in of the Vertex REST API
(tests/pipeline/vertex/fake_vertex.py), which records what the SDK sends."""
import json
import os
import subprocess
import sys

import pytest

from pipeline.local.runner import REPO_ROOT
from tests.pipeline.vertex.fake_vertex import ACCESS_TOKEN, BUCKET, CREATE, FakeVertex

GS = dict(pipeline_root="gs://bucket/root", data_root="gs://bucket/spans", schema_path="gs://bucket/schema.pbtxt",
          serving_model_dir="gs://bucket/serving")
PROJECT, REGION = "test-project", "europe-west4"
SERVICE_ACCOUNT = "pipelines@test-project.iam.gserviceaccount.com"
NETWORK = "projects/123/global/networks/ml"


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory):
    from pipeline.vertex.compile import compile_for_vertex
    path = str(tmp_path_factory.mktemp("submit") / "spec.json")
    compile_for_vertex(path, **GS, image="img:1")
    return path


@pytest.fixture
def fake(monkeypatch):
    with FakeVertex() as server:
        # The SDK checks the pipeline root's bucket on submit: Cloud Storage's emulator setting points it here.
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
        yield server


def adc_file(tmp_path, fake):
    """Application Default Credentials: a service-account key (made here) whose token endpoint is the fake."""
    import rsa
    _, private_key = rsa.newkeys(1024)
    path = tmp_path / "adc.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": PROJECT, "private_key_id": "local-key",
        "private_key": private_key.save_pkcs1().decode(), "client_email": SERVICE_ACCOUNT, "client_id": "1",
        "token_uri": f"{fake.url}/token"}))
    return str(path), private_key.save_pkcs1().decode()


def test_submit_creates_the_pipeline_job_the_spec_describes(spec_path, fake):
    from google.auth.credentials import AnonymousCredentials

    from pipeline.vertex import submit
    result = submit.submit(spec_path, project=PROJECT, region=REGION, service_account=SERVICE_ACCOUNT,
                           network=NETWORK, labels={"team": "ml", "span": "latest"}, enable_caching=False,
                           credentials=AnonymousCredentials(), api_endpoint=fake.url)
    [create] = fake.of("POST", CREATE)
    assert create["path"] == f"/v1/projects/{PROJECT}/locations/{REGION}/pipelineJobs"
    job_id = create["query"]["pipelineJobId"]
    assert job_id.startswith("flight-delay-")
    body = create["body"]
    spec = json.load(open(spec_path))
    assert body["displayName"] == "flight-delay"
    # the template as compiled, but for the caching option every task now carries
    sent, compiled = dict(body["pipelineSpec"]), dict(spec["pipelineSpec"])
    sent_tasks, compiled_tasks = sent.pop("root")["dag"]["tasks"], compiled.pop("root")["dag"]["tasks"]
    assert sent == compiled
    assert {k: {f: v for f, v in t.items() if f != "cachingOptions"} for k, t in sent_tasks.items()} == \
        {k: {f: v for f, v in t.items() if f != "cachingOptions"} for k, t in compiled_tasks.items()}
    assert body["runtimeConfig"]["gcsOutputDirectory"] == GS["pipeline_root"]
    assert body["runtimeConfig"].get("parameterValues", {}) == {}  # the spec has no runtime parameters
    assert body["labels"]["team"] == "ml" and body["labels"]["span"] == "latest"
    assert body["serviceAccount"] == SERVICE_ACCOUNT and body["network"] == NETWORK
    # caching off: every task of the job says so
    tasks = body["pipelineSpec"]["root"]["dag"]["tasks"]
    assert all(t["cachingOptions"] == {"enableCache": False} for t in tasks.values())
    assert "authorization" not in create["headers"]  # anonymous
    assert result["name"] == f"projects/{PROJECT}/locations/{REGION}/pipelineJobs/{job_id}"
    assert result["state"] == "PIPELINE_STATE_PENDING"
    assert [r["path"] for r in fake.of("GET", BUCKET)] == ["/storage/v1/b/bucket"]


def test_cli_submit_uses_application_default_credentials(spec_path, fake, tmp_path):
    credentials_file, private_key = adc_file(tmp_path, fake)
    env = dict(os.environ, GOOGLE_APPLICATION_CREDENTIALS=credentials_file)
    completed = subprocess.run(
        [sys.executable, "-m", "pipeline", "vertex", "submit", spec_path, "--project", PROJECT, "--region", REGION,
         "--service-account", SERVICE_ACCOUNT, "--labels", "team=ml", "--api-endpoint", fake.url, "--json"],
        capture_output=True, text=True, cwd=REPO_ROOT, env=env)
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout)  # stdout: one JSON document, the SDK's log lines on stderr
    [create] = fake.of("POST", CREATE)
    authorization = create["headers"]["authorization"]
    assert authorization.startswith("Bearer ")  # an access token from the fake, or a JWT signed with the key
    assert create["body"]["labels"]["team"] == "ml" and create["body"]["serviceAccount"] == SERVICE_ACCOUNT
    assert result["name"].endswith(create["query"]["pipelineJobId"])
    key_line = private_key.splitlines()[1]
    for text in (completed.stdout, completed.stderr, json.dumps(create["body"])):
        assert key_line not in text and authorization.split()[1] not in text and ACCESS_TOKEN not in text


def test_dry_run_prints_the_job_and_sends_nothing(spec_path, fake, tmp_path):
    env = dict(os.environ, GOOGLE_APPLICATION_CREDENTIALS=adc_file(tmp_path, fake)[0])
    completed = subprocess.run(
        [sys.executable, "-m", "pipeline", "vertex", "submit", spec_path, "--project", PROJECT, "--region", REGION,
         "--network", NETWORK, "--no-cache", "--dry-run", "--api-endpoint", fake.url],
        capture_output=True, text=True, cwd=REPO_ROOT, env=env)
    assert completed.returncode == 0, completed.stderr[-3000:]
    job = json.loads(completed.stdout)
    assert job["displayName"] == "flight-delay" and job["network"] == NETWORK
    assert job["runtimeConfig"]["gcsOutputDirectory"] == GS["pipeline_root"]
    assert fake.requests == []


def test_bad_labels_are_a_one_line_error(spec_path):
    completed = subprocess.run(
        [sys.executable, "-m", "pipeline", "vertex", "submit", spec_path, "--project", PROJECT, "--region", REGION,
         "--labels", "team"], capture_output=True, text=True, cwd=REPO_ROOT)
    assert completed.returncode == 2 and completed.stdout == ""
    assert completed.stderr.strip() == "Error: --labels: label 'team': expected KEY=VALUE"
