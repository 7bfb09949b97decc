"""``python -m deploy.cli`` runs the trialwire command."""

from deploy.cli import main

main()
