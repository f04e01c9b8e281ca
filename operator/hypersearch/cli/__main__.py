"""``python -m hypersearch.cli``: the ``hyper`` command."""

import sys

from hypersearch.cli import main

sys.exit(main())
