"""The code location: ``workspace.yaml`` (``dagster dev``) loads ``defs`` from here.

Built from the flow files in ``COUPLET_FLOWS`` (or the shipped ones) by ``build.build_definitions``;
see ``dagster_project/build.py`` for what they contain and ``translator.py`` for how flows map
onto Dagster. Importing this module builds them; the CLI imports ``build`` instead, which builds
only when a command needs Dagster.
"""

from .build import build_definitions, definitions
from .translator import RANGE_END, RANGE_START

__all__ = ["RANGE_END", "RANGE_START", "build_definitions", "defs"]

defs = definitions()
