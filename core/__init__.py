"""Core engine of the in-situ model downloading dashboard: models, sub-models, channel, library, mobility.

The engine never imports streamlit; the dashboard in ``app/`` calls it through ``app/services.py``.
"""
