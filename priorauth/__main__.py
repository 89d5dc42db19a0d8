import sys

from priorauth.cli import main

sys.exit(main())
