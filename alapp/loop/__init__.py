"""One active-learning round on a snapshot (fit, score, select), and simulation through it."""
