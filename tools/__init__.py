"""Development and CI tools: SDK generation, the breaking-change guard. Never run by the app."""
