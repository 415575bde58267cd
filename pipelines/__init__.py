"""The only package that knows Ray: config loading, the plan of stages, Ray Data execution, shards, manifest, CLI.

In:  a YAML recipe (configs/*.yaml) and raw input files.
Out: an output folder: shards/, rejected/, duplicates/, quarantine/, report.json and manifest.json (written last).
"""
