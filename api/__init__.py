"""HTTP routes beside the dashboard's page, on its port and behind its password: live annotated
video (``/cameras/{name}/live.mjpg``, ``/cameras/{name}/latest.jpg``). Reads Redis through
:mod:`common` only and never imports torch."""
