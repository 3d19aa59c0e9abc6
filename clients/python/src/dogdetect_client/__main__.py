"""`python -m dogdetect_client`: the `dogdetect` command."""

import sys

from dogdetect_client.cli import main

sys.exit(main())
