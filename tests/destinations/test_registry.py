"""Every registered destination's declaration (``destinations.DESTINATIONS``, ``spec.Destination``).

Run over the registry: a destination added there is checked here with nothing else to write. mypy
checks each writer's ``write`` against ``base.Writer`` where the declaration names its factory; the
signature test below says the same at run time, for a reader of the test report.
"""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest
from pydantic import ValidationError

from destinations import DESTINATIONS, all_destinations, get_destination
from destinations.base import Writer
from destinations.spec import Context, Destination

KINDS = list(DESTINATIONS)


def declared(kind: str) -> Destination:
    return get_destination(kind)


@pytest.mark.parametrize("kind", KINDS)
def test_the_declaration_has_its_kind_and_an_example(kind: str) -> None:
    destination = declared(kind)
    assert destination.kind == kind
    assert destination.example, f"{DESTINATIONS[kind]}: declare an example (typical settings) in DESTINATION"
    settings = destination.settings.model_validate(destination.example)
    assert destination.label(settings) and destination.default_name(settings)
    assert isinstance(destination.target(settings, Context(partitioned=True)), destination.settings)
    if destination.file_setting is not None:
        assert destination.file_setting in destination.settings.model_fields
        assert destination.local_path(settings) == destination.example.get(destination.file_setting)


@pytest.mark.parametrize("kind", KINDS)
def test_settings_are_strict_and_immutable(kind: str) -> None:
    destination = declared(kind)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        destination.settings.model_validate({**destination.example, "no_such_setting": 1})
    settings = destination.settings.model_validate(destination.example)
    first = next(iter(destination.example))
    with pytest.raises(ValidationError, match="frozen"):
        setattr(settings, first, destination.example[first])
    assert hash(settings) == hash(destination.settings.model_validate(destination.example))


@pytest.mark.parametrize("kind", KINDS)
def test_the_writer_follows_the_protocol(kind: str) -> None:
    destination = declared(kind)
    settings = destination.settings.model_validate(destination.example)
    writer = destination.writer(settings, Context())
    wanted = list(inspect.signature(Writer.write).parameters)
    assert list(inspect.signature(type(writer).write).parameters)[: len(wanted)] == wanted


def test_an_unknown_kind_names_the_registered_ones() -> None:
    with pytest.raises(KeyError, match="unknown destination 'duckbd'; available: duckdb, excel"):
        get_destination("duckbd")
    assert [d.kind for d in all_destinations()] == KINDS


def test_declarations_import_no_client_library() -> None:
    """Loading flows imports every declaration; the writers' libraries wait for a run."""
    heavy = ["openpyxl", "gspread", "google.auth", "google.cloud", "lxml"]
    code = (
        "import sys, pipelines.loader, destinations; destinations.all_destinations(); "
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
