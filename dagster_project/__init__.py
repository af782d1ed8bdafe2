"""The only package that imports dagster: flow files -> assets, jobs, schedules; the CLI."""

import warnings

# Dagster marks BackfillPolicy on assets as beta; couplet relies on it knowingly (single-run backfills).
warnings.filterwarnings("ignore", message=r".*`backfill_policy`.*beta", category=Warning)
