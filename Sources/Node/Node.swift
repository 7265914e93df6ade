// Node: filled by its issue.
