"""The browser app (`python run.py serve`): Mesa's SolaraViz pages (`app.py`) and what they show
without the browser (`controls.py`); its figures come from `analysis/figures.py`."""
