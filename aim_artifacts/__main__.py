"""``python -m aim_artifacts``: the ``aim-artifacts`` command line."""

from .cli import main

if __name__ == "__main__":
    main()
