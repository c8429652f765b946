"""``python -m ltrobust`` (also what ``torchrun -m ltrobust`` runs)."""

from ltrobust.cli.main import main

main()
