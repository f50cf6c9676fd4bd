"""The only place with st.cache_*: models, data and engine results, loaded once per process and shared.

Everything handed out is read-only by contract: pages never mutate a cached model (the engine copies before it
changes anything), and cache keys are plain values the page passes explicitly (keys.py says what they are made of).

One module per concept: keys (what cache keys are made of), roots (root models, data sets, the session's settings),
location, live (the trial store and live estimates), submodels, rates, mobility, ai_library, depth (split points,
early exit, progressive), guide, federated (the Improve together page's background runs: their state is on disk,
not in a cache). Pages use the names re-exported here (``from app import services``). Modules call one another
through the module (``roots.dataset(model)``), so a test patches a function in the module that defines it, and
code outside the package (pages, app.story) looks names up here.
"""
from app.services.ai_library import (ACCURACY_RULE, HOLDS, REAL_TIME_MAX_S, REFERENCE_DOWNLINK_BPS, TECHNIQUES,
                                     TIER_PRESETS, damaged_entries, edge_limit_bits, improve_command, layer_profile,
                                     library, library_or_none, library_versions, selection)
from app.services.depth import exit_outcomes, progressive, split_rows
from app.services import federated
from app.services.guide import shipped_story_values, story_ber, story_card
from app.services.keys import (SubModelRef, area_stamp, checkpoint_path, library_key, library_path, library_stamp,
                               root_identity, settings_key)
from app.services.live import (ARITHMETIC_LABELS, BER_GRID, FIRST_NUMBERS_THREADS, LIVE_FIRST_LOOK_IMAGES,
                               LIVE_IMAGES_PER_TRIAL, LIVE_STORE_ENTRIES, PACKET_MODES, PROTECTIONS, PacketConfig,
                               ber_sweep, exponent_flip, library_curve, live_arithmetics, live_clean, live_config, live_estimate,
                               live_estimates, live_int8_problem, live_predictions, live_store, live_stored,
                               live_working, packet_report, protection_label)
from app.services.location import area, place_link
from app.services.mobility import (area_at, area_files, mobility_map, mobility_presets, mobility_sizes, place_models,
                                   simulation)
from app.services.rates import (APPLICATIONS, PAPER, PAPER_APPLICATIONS, PAPER_MODELS, REFERENCE_RATES, ROOT_MODELS,
                                fig4, fit_table, paper_statements, parameter_counts)
from app.services.situation_library import is_situation, situation_cards, situations_of
from app.services.situation_library import library_or_none as situation_library_or_none
from app.services.roots import dataset, forget_replaced_roots, root_model, settings
from app.services.submodels import (LIVE_SPECS, library_submodel, live_fallback, live_submodel, live_submodel_noting,
                                    submodel)

__all__ = [
    # keys
    "SubModelRef", "area_stamp", "checkpoint_path", "library_key", "library_path", "library_stamp", "root_identity",
    "settings_key",
    # roots and data
    "dataset", "forget_replaced_roots", "root_model", "settings",
    # location
    "area", "place_link",
    # sub-models and live estimates
    "LIVE_SPECS", "library_submodel", "live_fallback", "live_submodel", "live_submodel_noting", "submodel",
    "ARITHMETIC_LABELS", "BER_GRID", "FIRST_NUMBERS_THREADS", "LIVE_FIRST_LOOK_IMAGES", "LIVE_IMAGES_PER_TRIAL",
    "LIVE_STORE_ENTRIES", "PACKET_MODES", "PROTECTIONS", "PacketConfig", "ber_sweep", "exponent_flip", "library_curve",
    "live_arithmetics", "live_clean", "live_config", "live_estimate", "live_estimates", "live_int8_problem",
    "live_predictions", "live_store", "live_stored", "live_working", "packet_report", "protection_label",
    # rates
    "APPLICATIONS", "PAPER", "PAPER_APPLICATIONS", "PAPER_MODELS", "REFERENCE_RATES", "ROOT_MODELS", "fig4",
    "fit_table", "paper_statements", "parameter_counts",
    # mobility
    "is_situation", "situation_cards", "situations_of", "situation_library_or_none", "area_at", "area_files", "mobility_map", "mobility_presets", "mobility_sizes", "place_models", "simulation",
    # AI library and selection
    "ACCURACY_RULE", "HOLDS", "REAL_TIME_MAX_S", "REFERENCE_DOWNLINK_BPS", "TECHNIQUES", "TIER_PRESETS",
    "damaged_entries", "edge_limit_bits", "improve_command", "layer_profile", "library", "library_or_none",
    "library_versions", "selection",
    # depth and progressive
    "exit_outcomes", "progressive", "split_rows",
    # federated runs (the Improve together page): services.federated.status(...), .start(...)
    "federated",
    # guide
    "shipped_story_values", "story_ber", "story_card",
]
