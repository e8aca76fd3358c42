"""JSON view-models: plain dicts and lists (no pandas types, no NaN) that the faces share.

The REST handlers, the widgets and the CLI's JSON output build what they show from these, over
the features' query functions; a view-model never runs SQL itself.
"""
