"""The one-line summary the reports screen shows reads as words, never as Python values or field names."""

from __future__ import annotations

from pos_client.services.marketing.report_labels import summary_text


def test_summary_line_has_no_raw_values_or_names() -> None:
    line = summary_text({"conclusive": False, "stages": {"at_risk": 3, "active": 5}, "spent_cents": 245315})
    assert "False" not in line and "at_risk" not in line
    assert "at risk 3" in line and "2,453.15" in line and " no" in line
