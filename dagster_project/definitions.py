"""The code location: ``dg`` (``dg dev``, ``dg list defs``) and ``workspace.yaml`` (``dagster dev``)
load ``defs`` from here.

``defs`` is the project's ``defs/`` folder, loaded the ``dg`` way: ``defs/flows/defs.yaml`` declares
a ``component.FlowsComponent`` over the flow files in ``COUPLET_FLOWS`` (or the shipped ones), which
``build.build_definitions`` turns into assets, jobs, schedules and sensors; see ``translator.py``
for how flows map onto Dagster. Importing this module builds them; the CLI imports ``build``
instead, which builds only when a command needs Dagster.
"""

from pathlib import Path

import dagster as dg

from .build import build_definitions
from .translator import RANGE_END, RANGE_START

__all__ = ["RANGE_END", "RANGE_START", "build_definitions", "defs"]

defs = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
