"""Governed sharing: decide() then execute(), the one door to shared data."""
