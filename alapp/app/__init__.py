"""What the user can do: session commands, the writer thread, rounds and jobs."""
