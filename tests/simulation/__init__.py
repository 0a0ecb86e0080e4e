"""Randomised simulation of the whole engine against the sandboxes (Hypothesis state machine)."""
