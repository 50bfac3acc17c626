"""Human-readable outputs: the degradation gallery (later: restoration reports)."""
