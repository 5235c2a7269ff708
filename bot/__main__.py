"""``python -m bot`` runs the CLI (the container image uses this too)."""

from bot.cli import main

if __name__ == "__main__":
    main()
