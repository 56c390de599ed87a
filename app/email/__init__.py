"""Email for follow-up cadences, and the one-click unsubscribe every email carries."""
