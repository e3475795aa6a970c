"""Analysis tools (thin command lines over :mod:`mmdiverse.analysis`)."""
