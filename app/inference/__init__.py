"""Networks, weights, device choice and the two-stage engine. Imports no Qt."""
