"""Synthetic supplier deliveries: a Flemish population, its labour-market careers and the
files RR, RSZ, RSVZ, RVA, VDAB, POD MI and AHOVOKS would send, with realistic defects."""

from sdwh.synth.defects import DefectRates
from sdwh.synth.generate import SynthSummary, generate

__all__ = ["DefectRates", "SynthSummary", "generate"]
