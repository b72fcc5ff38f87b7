"""Active learning in pure numpy: scores, selection, batch composition, stopping, cost.

Everything here works on prediction arrays, never on models, so a score can be recomputed, shown
to the annotator and tested against a hand-written probability table.
"""
