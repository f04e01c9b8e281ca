"""``python -m hypersearch.sidecar``: the entrypoint the trial Pod's sidecar container runs."""

import sys

from hypersearch.sidecar.main import main

sys.exit(main())
