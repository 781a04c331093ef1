"""`python -m dstt_profile` is the `dstt-profile` command."""

from __future__ import annotations

import sys

from dstt_profile.cli.main import main

sys.exit(main())
