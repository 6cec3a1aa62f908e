"""Partner (IMTO) data: the event outbox every partner-visible change writes."""
