"""l2 natural gradient in hidden convex-concave games: solvers, structured Gram, experiments."""
