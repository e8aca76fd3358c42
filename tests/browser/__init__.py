"""Browser end-to-end harness: JupyterLab server helper (jupyterlab.py) and Chromium driver (run_notebook.mjs)."""
