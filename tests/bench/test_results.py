"""`python -m bench --only X --out F` merges its rows into an existing results file, or refuses clearly."""

from __future__ import annotations

import pytest

from bench import report
from bench.__main__ import main
from bench.stats import PASS, Figure, Measure


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tmp_path_factory.mktemp("bench-data")


def rows(path) -> list[dict]:
    return report.read_data(path.read_text())["figures"]


def bench(data, out, *args: str) -> int:
    return main(["--size", "tiny", "--data-dir", str(data), "--out", str(out), *args])


def test_only_merges_rows_into_the_results_file(data, tmp_path, capsys):
    out = tmp_path / "RESULTS.md"
    assert bench(data, out, "--only", "receipt") == 0
    first = rows(out)
    assert [r["key"] for r in first] == ["receipt"]
    assert first[0]["context"]["load_start"] and first[0]["context"]["date"]
    assert bench(data, out, "--only", "lookup") == 0
    second = rows(out)
    assert [r["key"] for r in second] == ["receipt", "lookup"]
    assert second[0] == first[0]  # the row not re-run is kept as it was
    assert bench(data, out, "--only", "receipt") == 0
    third = rows(out)
    assert [r["key"] for r in third] == ["receipt", "lookup"] and third[1] == second[1]
    assert third[0]["measure"] != first[0]["measure"]  # replaced by the new run's row
    text = out.read_text()
    assert text.count("| receipt to ESC/POS bytes |") == 1
    assert "Rows lookup from a later" in text and "Rows receipt from a later" in text
    assert "load 1 min" in text


def test_refuses_a_file_of_another_scale(data, tmp_path, capsys):
    out = tmp_path / "RESULTS.md"
    assert bench(data, out, "--only", "receipt") == 0
    before = out.read_text()
    # --quick would need the quick dataset: the refusal comes before anything is built or run
    assert main(["--quick", "--data-dir", str(tmp_path / "none"), "--out", str(out), "--only", "receipt"]) == 2
    assert out.read_text() == before
    assert "tiny-scale run and this is a quick-scale run" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


def test_refuses_a_file_without_a_data_block(data, tmp_path, capsys):
    out = tmp_path / "RESULTS.md"
    out.write_text("# Benchmark results\n\nhand-written, no data block\n")
    assert bench(data, out, "--only", "receipt") == 2
    assert out.read_text() == "# Benchmark results\n\nhand-written, no data block\n"
    assert "no bench data block" in capsys.readouterr().err


def test_the_data_block_round_trips_figures():
    m = Measure.of("x", "ms", [1.0, 2.0, 3.0])
    fig = Figure("k", "a -- title", "t", PASS, measure=m, judged={"claim": "p50"}, context={"date": "d"})
    run = {"command": "c", "date": "d", "mode": "tiny", "seconds": 1.0, "dataset_cached": True, "load": [1, 2, 3],
           "dataset": {"members": 1, "cards": 1, "ledger": 1, "sales": 1, "sale_lines": 1, "products": 1,
                       "seed": 1, "bytes": 1, "seconds": 1, "load_seconds": 1, "index_seconds": 1},
           "machine": {"cpu": "x", "cores": 2, "ram_gb": 1, "os": "L", "python": "3", "sqlite": "3",
                       "filesystem": "ext4"}}
    text = report.markdown(run, [fig])
    comment = text[text.index(report.DATA_BEGIN):]
    assert "--" not in comment[len(report.DATA_BEGIN): -len(report.DATA_END) - 1]  # a valid HTML comment
    back = Figure.from_dict(report.read_data(text)["figures"][0])
    assert back == fig
