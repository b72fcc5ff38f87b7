"""PySide6 windows and widgets. They show what the engine and the store return and compute
nothing themselves."""

from alapp.ui.qt_refcount import guard_singletons

guard_singletons()  # before any widget: the installed Qt binding takes references it never gave
