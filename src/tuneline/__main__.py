import sys

from tuneline.cli import main

sys.exit(main())
