"""The data behind the comparison views: run tables, charts, run diffs and lineage graphs.

Everything here is plain Python over the store (DataFrames, dicts, plotly figures); the
widgets in `mlnb.widgets` only wire these to controls.
"""
