"""The only package that knows Ray: config loading, the plan of stages, Ray Data execution, shards, manifest, CLI.

In:  a YAML recipe (configs/*.yaml) and raw input files.
Out: an output folder: shards/, rejected/, duplicates/, quarantine/, report.json and manifest.json (written last).
"""

import ray

from stages.imports import arrow_without_pandas

if ray.is_initialized() and ray.get_runtime_context().worker.mode == ray.WORKER_MODE:
    arrow_without_pandas()  # a Ray worker imports this package before any carding task runs in it
