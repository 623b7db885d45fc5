"""The browser app (`python run.py serve`): the page built on Mesa's SolaraViz parts (`app.py`) and
what it shows without the browser (`controls.py`); its figures come from `analysis/figures/` (live.py)."""
