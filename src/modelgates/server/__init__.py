"""The ModelGates server. Needs the ``server`` extra: ``pip install 'modelgates[server]'``."""
