"""Mobility simulator for predictive model downloading (paper Sec. 3): area, movement, link, policies, simulate."""
from core.mobility.area import Area, load_area
from core.mobility.simulate import SCENARIOS, ScenarioConfig, SimulationResult, scenario, simulate

__all__ = ["Area", "load_area", "SCENARIOS", "ScenarioConfig", "SimulationResult", "scenario", "simulate"]
