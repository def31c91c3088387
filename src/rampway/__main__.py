"""`python -m rampway …` is the same as the `rampway` command."""

from rampway.cli import main

main()
