"""The ``cctv`` command: starts and inspects the pipeline's services."""
