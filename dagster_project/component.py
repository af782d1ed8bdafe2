"""``FlowsComponent``: couplet's flow files as a Dagster Component, for ``dg`` projects.

Declare it in a ``defs.yaml`` (the shipped project does so in ``dagster_project/defs/flows/``)::

    type: dagster_project.component.FlowsComponent
    attributes:
      flows:                 # flow files or folders of them; relative paths start at the project root
        - pipelines/flows
      data_dir: data         # optional: overrides the flow files' ``settings.data_dir``
      executor: multiprocess # optional: overrides ``settings.executor`` (in_process | multiprocess)
      max_concurrent: 4      # optional, multiprocess only: overrides ``settings.max_concurrent``

When the environment variable ``COUPLET_FLOWS`` is set (files/folders separated by ``os.pathsep``),
it takes the place of ``flows``, as it does for ``couplet`` and ``workspace.yaml``; set
``use_env: false`` to ignore it. Without ``flows`` the component loads ``COUPLET_FLOWS`` or, when
that is unset too, the flows shipped with couplet. The definitions are those of
``build.build_definitions``: a flow file with mistakes harms only itself and shows up as an asset
of the ``broken_flow_files`` group.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import ValidationError

from pipelines.config import ProjectSettings
from pipelines.loader import Catalog, FlowError, flow_paths, load_catalog

from .build import build_definitions, executor_of

__all__ = ["FlowsComponent", "catalog_of"]


def catalog_of(flows: list[str] | None, root: Path, use_env: bool = True) -> Catalog:
    """The catalog of ``flows`` (relative to ``root``), or of ``COUPLET_FLOWS``/the shipped flows."""
    env = os.environ.get("COUPLET_FLOWS", "") if use_env else ""
    if env or not flows:
        return load_catalog() if use_env else load_catalog(flow_paths(""))
    spec = os.pathsep.join(str(p if Path(p).is_absolute() else root / p) for p in flows)
    try:
        paths = flow_paths(spec)
    except FlowError as exc:  # a missing file or folder: reported like any other problem
        catalog = load_catalog([])
        catalog.problems = list(exc.problems)
        return catalog
    return load_catalog(paths)


class FlowsComponent(dg.Component, dg.Model, dg.Resolvable):
    """couplet flow files: each healthy flow's assets, job, schedule and alert sensor."""

    flows: list[str] | None = None
    """Flow files or folders of them, relative to the project root (or absolute)."""
    data_dir: str | None = None
    """Where staging and DuckDB files live; default: the flow files' ``settings.data_dir``."""
    use_env: bool = True
    """Let ``COUPLET_FLOWS``, when set, take the place of ``flows``."""
    executor: Literal["in_process", "multiprocess"] | None = None
    """How runs execute assets; default: the flow files' ``settings.executor``."""
    max_concurrent: int | None = None
    """Assets a multiprocess run executes at once; default: ``settings.max_concurrent``, else 2."""

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        catalog = catalog_of(self.flows, context.project_root, self.use_env)
        executor = None
        if self.executor is not None or self.max_concurrent is not None:
            given = {"executor": self.executor, "max_concurrent": self.max_concurrent}
            settings = catalog.flow_file.settings.model_dump() | {k: v for k, v in given.items() if v}
            try:
                executor = executor_of(ProjectSettings.model_validate(settings))
            except ValidationError as exc:
                problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
                raise ValueError(f"FlowsComponent executor/max_concurrent: {problems}") from None
        return build_definitions(catalog, data_dir=self.data_dir, executor=executor)
