"""Plain data and errors shared by every layer. No Qt, no torch, no SQL."""
