"""``python -m benchmarks.serving``: see the package docstring."""

import sys

from benchmarks.serving.run import main

sys.exit(main())
