"""Data recipes: one module per dataset, each turning Hub or local rows into mmrl Examples."""
