"""``python -m attnsvm``: the command line (same as the ``attnsvm`` console script)."""

from attnsvm.properties.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
