"""`python -m nativa` is the same as the `nativa` command."""

from nativa.cli import main

main()
