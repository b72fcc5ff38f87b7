"""One round = fit -> score -> select, as plain functions with a progress/cancel token."""
