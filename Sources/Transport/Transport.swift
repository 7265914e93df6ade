// Transport: filled by its issue.
