"""Situations of a device (class groups of a root's classes) and mismatch detection: a drift detector on the
device model's confidence says when the model no longer suits the situation, the trigger of a new download."""
