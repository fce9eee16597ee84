"""CovetPy's framework modules, laid out as the user guide imports them."""
