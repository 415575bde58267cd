"""`python -m pipelines ...` is `carding ...`: the form `ray job submit` runs without an install step."""
import sys

from pipelines.cli import main

sys.exit(main())
