// Privacy: filled by its issue.
