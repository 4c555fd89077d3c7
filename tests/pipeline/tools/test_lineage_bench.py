"""The benchmark command runs and prints its table (figures are printed, not asserted)."""
from click.testing import CliRunner

from pipeline.tools import lineage_bench as bench


def test_bench_prints_a_row_per_question(tmp_path):
    r = CliRunner().invoke(bench.main, ["--sizes", "3,6", "--repeat", "1", "--workdir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    lines = [line for line in r.output.splitlines() if line.startswith(("3 ", "6 "))]
    assert len(lines) == 2 * 4
    assert {line.split()[3] for line in lines} == {"trace", "impact", "runs"}
    # stores are kept and re-used
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs-3.sqlite", "runs-6.sqlite"]
    again = CliRunner().invoke(bench.main, ["--sizes", "3", "--repeat", "1", "--workdir", str(tmp_path)])
    assert again.exit_code == 0, again.output
