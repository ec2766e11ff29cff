"""stratosd: the StratOS daemon. It owns the scheduler and every job's state."""
