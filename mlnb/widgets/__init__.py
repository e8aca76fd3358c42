"""In-notebook views (ipywidgets) with static HTML fallbacks for saved and converted notebooks."""
