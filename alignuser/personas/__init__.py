"""Personas: who the simulated users are (derived from data, or sampled from archetype mixes)."""

from alignuser.personas.derive import AGENT4REC_ML1M_CUTS, TraitCuts, derive_personas
from alignuser.personas.library import (
    Archetype,
    Mix,
    load_archetypes,
    load_mix,
    load_personas,
    make_mix,
    sample_from_dataset,
    sample_from_mix,
    save_personas,
)
from alignuser.personas.persona import FEATURE_KEYS, Persona
from alignuser.personas.text import render_persona

__all__ = [
    "AGENT4REC_ML1M_CUTS",
    "FEATURE_KEYS",
    "Archetype",
    "Mix",
    "Persona",
    "TraitCuts",
    "derive_personas",
    "load_archetypes",
    "load_mix",
    "load_personas",
    "make_mix",
    "render_persona",
    "sample_from_dataset",
    "sample_from_mix",
    "save_personas",
]
