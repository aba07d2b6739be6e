"""Settings: those renamed for what they govern keep their old names working, with a warning;
the ingestion limits' defaults agree with the parsers' own."""

import warnings

import pytest

from orchestrator_service.bootstrap import ingest_pool
from orchestrator_service.config import Settings
from orchestrator_service.rag.limits import ParseLimits


@pytest.mark.parametrize(
    ("old", "new", "value", "expected"),
    [
        ("ORCH_INGEST_LEASE_SECONDS", "job_lease_seconds", "7", 7.0),
        ("ORCH_TOOL_ALLOWED_HOSTS", "outbound_allowed_hosts", "10.0.0.0/8", "10.0.0.0/8"),
    ],
)
def test_an_old_name_still_sets_the_new_setting_and_warns(
    monkeypatch: pytest.MonkeyPatch, old: str, new: str, value: str, expected: object
) -> None:
    monkeypatch.setenv(old, value)
    with pytest.warns(DeprecationWarning, match=old):
        settings = Settings()
    assert getattr(settings, new) == expected


def test_the_new_name_wins_over_the_old_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_INGEST_LEASE_SECONDS", "7")
    monkeypatch.setenv("ORCH_JOB_LEASE_SECONDS", "9")
    with pytest.warns(DeprecationWarning):
        assert Settings().job_lease_seconds == 9.0


def test_new_names_alone_do_not_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_JOB_LEASE_SECONDS", "9")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Settings().job_lease_seconds == 9.0


def test_the_parsers_default_limits_are_the_settings_defaults() -> None:
    defaults = Settings()
    assert ingest_pool(defaults).parse_limits == ParseLimits()
