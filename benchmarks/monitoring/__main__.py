import sys

from benchmarks.monitoring.run import main

sys.exit(main())
