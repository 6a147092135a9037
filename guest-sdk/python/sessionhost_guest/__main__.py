"""`python -m sessionhost_guest build ...`: see `sessionhost_guest.build`."""

import sys

from .build import main

sys.exit(main())
