"""`carding`: run a recipe, inspect or validate shards, train a tokenizer or quality classifier.

Each subcommand is one function over the library; errors in configs and inputs print one line and exit 2.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

EPILOG = """\
examples:
  carding run configs/sample.yaml                       the bundled sample, on an embedded local Ray
  carding run configs/sample.yaml --dry-run             a sample of the input, report only, nothing written
  carding run cfg.yaml --input 'crawl/*.jsonl.zst' --output out/crawl
  RAY_ADDRESS=http://head:8265 ray job submit --working-dir . -- python -m pipelines run cfg.yaml
  carding inspect out/sample --plots                    polars summaries (+ PNG plots) of the shards
  carding validate out/sample                           shards vs manifest; non-zero exit on any mismatch (CI)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="carding",
        description="Turn raw text corpora into training-ready LLM shards on Ray: "
                    "filter → dedup → rewrite → tokenize → pack → shards.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a YAML recipe end to end and print the summary table",
                         description="Run a YAML recipe: read, filter, dedup, rewrite, tokenize, pack, write shards "
                                     "and manifest.json. A rerun of the same recipe resumes: finished partitions "
                                     "and windows are skipped.")
    run.add_argument("config", type=Path, help="YAML recipe, e.g. configs/sample.yaml")
    run.add_argument("--input", action="append", metavar="PATH",
                     help="input file, folder or glob; repeat for several (replaces input.paths of the recipe)")
    run.add_argument("--output", metavar="DIR", help="output folder (replaces output.dir of the recipe)")
    run.add_argument("--dry-run", action="store_true",
                     help="run the same plan on a sample of the input and report what each stage would keep "
                          "and drop; nothing is written to the destination")
    run.add_argument("--sample-docs", type=int, default=2000, metavar="N",
                     help="documents read by --dry-run (default: %(default)s)")
    run.add_argument("--num-cpus", type=int, metavar="N", help="CPUs of the embedded Ray (default: all)")
    run.add_argument("--overwrite", action="store_true", help="replace an output folder made by another recipe")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override one recipe value, e.g. --set pack.max_tokens=4096 (YAML value)")
    run.add_argument("--no-progress", action="store_true", help="no progress bars (for logs)")

    inspect = sub.add_parser("inspect", help="polars summaries of a shard folder (lengths, fill, buckets, sources)",
                             description="Print polars summaries of the shards in OUT: sequence lengths, fill, "
                                         "documents per sequence, buckets and sources.")
    inspect.add_argument("out", type=Path, help="an output folder of `carding run`")
    inspect.add_argument("--plots", action="store_true", help="also write PNG plots beside the manifest")

    validate = sub.add_parser("validate", help="check shards against manifest.json (exit 1 on any mismatch)",
                              description="Recompute every shard's sha256, row and token count and schema, and "
                                          "the conservation line; exit 1 naming the first bad shard. Put this in CI.")
    validate.add_argument("out", type=Path, help="an output folder of `carding run`")

    tok = sub.add_parser("train-tokenizer", help="train a byte-level BPE on the recipe's input",
                         description="Train a byte-level BPE (tokenizers) on the documents the recipe reads and "
                                     "write tokenizer.json.")
    tok.add_argument("config", type=Path, help="YAML recipe whose input and tokenize.bpe settings are used")
    tok.add_argument("--output", type=Path, required=True, help="where to write tokenizer.json")

    qual = sub.add_parser("train-quality", help="train the fastText quality classifier",
                          description="Train carding's fastText quality classifier from the recipe's settings.")
    qual.add_argument("config", type=Path, help="YAML recipe whose filter.quality settings are used")
    qual.add_argument("--output", type=Path, required=True, help="where to write the model (.bin)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"run": _run, "inspect": _inspect, "validate": _validate,
                "train-tokenizer": _train_tokenizer, "train-quality": _train_quality}[args.command](args)
    except (ValueError, FileNotFoundError, FileExistsError, PermissionError) as e:
        e = getattr(e, "cause", None) or e  # an error raised inside a Ray task: print the cause, not Ray's traceback
        print(f"carding: error: {e}", file=sys.stderr)
        return 2


def _overrides(args: argparse.Namespace) -> dict:
    overrides: dict = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item}: expected KEY=VALUE, e.g. pack.max_tokens=4096")
        try:
            overrides[key] = yaml.safe_load(value)
        except yaml.YAMLError as e:
            from pipelines.config import yaml_error_line

            raise ValueError(yaml_error_line(f"--set {key}", e)) from e
    if args.input:
        overrides["input.paths"] = args.input
    if args.output:
        overrides["output.dir"] = args.output
    if args.num_cpus is not None:
        overrides["ray.num_cpus"] = args.num_cpus
    if args.overwrite:
        overrides["output.overwrite"] = True
    if args.no_progress:
        overrides["ray.progress"] = False
    return overrides


def _run(args: argparse.Namespace) -> int:
    from pipelines.config import load_config
    from pipelines.paths import check_output_tree
    from pipelines.runner import dry_run_config, run
    from pipelines.summary import print_summary

    config = load_config(args.config, _overrides(args))
    if not args.dry_run:
        check_output_tree(config.output.dir)  # a symlink under the output folder must not lead writes out of it
        print_summary(run(config))
        return 0
    scratch = Path(tempfile.mkdtemp(prefix="carding-dry-run-"))
    try:
        report = run(dry_run_config(config, args.sample_docs, scratch))
        report.dry_run = True
        print_summary(report)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from pipelines.inspect_shards import inspect_output

    print(inspect_output(args.out, plots=args.plots))
    return 0


def _validate(args: argparse.Namespace) -> int:
    from pipelines.validate import validate_output

    problems = validate_output(args.out)
    for p in problems:
        print(f"carding validate: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"{args.out}: valid (shards, row and token counts, sha256 checksums and conservation match the manifest)")
    return 0


def _train_tokenizer(args: argparse.Namespace) -> int:
    from pipelines.training import train_tokenizer_from_config

    print(train_tokenizer_from_config(args.config, args.output))
    return 0


def _train_quality(args: argparse.Namespace) -> int:
    from pipelines.training import train_quality_from_config

    print(train_quality_from_config(args.config, args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
