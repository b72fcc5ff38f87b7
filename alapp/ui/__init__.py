"""PySide6 windows and widgets. They show what the engine and the store return and compute
nothing themselves."""
