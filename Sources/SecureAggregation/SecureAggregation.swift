// SecureAggregation: filled by its issue.
