import sys

from bet.cli import main

sys.exit(main())
