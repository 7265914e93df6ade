// Simulation: filled by its issue.
