"""``python -m netkit``: the same as the ``netkit`` command."""

from netkit.cli import main

raise SystemExit(main())
