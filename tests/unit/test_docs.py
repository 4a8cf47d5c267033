"""Docs that must not drift from the code."""

from pathlib import Path

from sdwh.config import Settings
from sdwh.landing.contracts import load_contracts
from sdwh.landing.rules import REASONS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_quarantine_reason_is_documented():
    text = (DOCS / "landing.md").read_text()
    for reason, meaning in REASONS.items():
        assert f"| `{reason}` | {meaning} |" in text


def test_every_contract_is_listed_in_the_landing_doc():
    text = (DOCS / "landing.md").read_text()
    for c in load_contracts().values():
        assert f"| {c.supplier} | {c.dataset} |" in text


def test_every_setting_is_documented():
    text = (DOCS / "configuration.md").read_text()
    for name in Settings.model_fields:
        assert f"`SDWH_{name.upper()}`" in text
