"""A plugin that fails on import, as a plugin with a missing dependency would."""
raise ImportError("kel_broken_plugin needs a package that is not installed: no module named 'nonexistent_dep'")
