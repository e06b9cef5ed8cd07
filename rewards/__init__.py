"""Verifiers: score a response against an Example's answer (math, geometry, chart, choice, format)."""
