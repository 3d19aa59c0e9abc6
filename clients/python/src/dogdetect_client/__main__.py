"""`python -m dogdetect_client`: the `dogdetect` command."""

from dogdetect_client.cli import run

run()
