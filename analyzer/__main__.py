"""``python -m analyzer`` runs the relaywatch command."""

from analyzer.cli import main

main()
