"""Streamlit front end: thin pages over the core engine, through one cached service layer (app/services/)."""
