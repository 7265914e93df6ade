// Learning: filled by its issue.
